"""Scripted two-party customer-service calls for the synthetic test set (see synth_calls.py).

A script says WHAT is said and HOW each line is timed relative to the previous one (a `Cue`);
synth_calls.py turns that into audio and measures the exact times. Labels on a line are the ground
truth for its meaning (empathy category, dismissive, sympathy, customer distress, hold
announcement). `lint_script` keeps the labels honest: a label needs one of its marker phrases in the
text and a marker phrase in the text needs its label, so an unlabelled "neutral" line can never
carry empathy or a hold phrase by accident (that would make the benchmark's truth ambiguous).

Importable without any TTS dependency (tests lint every script).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Literal

Speaker = Literal["agent", "customer"]


class Cue(str, Enum):
    """How a line starts relative to what came before (ranges are chosen in synth_calls.py)."""

    NEXT = "next"            # normal turn-taking gap 0.25-1.1 s (same speaker: 0.3-0.7 s pause)
    SLOW = "slow"            # agent answers the customer late: gap 3.3-4.1 s (a slow_response)
    DEAD_AIR = "dead_air"    # nobody speaks 6.8-14.5 s; announced when the line before is a hold
    HOLD = "hold"            # long hold >= 120 s (only in one call of a set, else like DEAD_AIR)
    INTERRUPT = "interrupt"  # starts while the previous (other-party) line is still going; that
                             # line is cut off 0.7-1.1 s later


EMPATHY_CATEGORIES = ("acknowledgement", "validation", "apology", "reassurance", "recap",
                      "exploration", "follow_up")
AGENT_LABELS = tuple(f"empathy:{c}" for c in EMPATHY_CATEGORIES) + (
    "dismissive", "sympathy", "hold_announcement")
CUSTOMER_LABELS = ("distress",)
ALL_LABELS = AGENT_LABELS + CUSTOMER_LABELS

# Short acknowledgements used as backchannels (a subset of configs/default.yaml's list).
BACKCHANNELS = ("mm hmm", "right", "okay", "I see", "yeah", "got it", "uh huh", "sure")

# Marker phrases per label, matched case-insensitively on word boundaries. They are NOT a
# classifier: they only let lint_script check that the author labelled what the text says.
MARKERS: dict[str, tuple[str, ...]] = {
    "empathy:acknowledgement": ("sounds really", "sounds so", "sounds stressful", "sounds awful",
                                "sounds frustrating", "must be", "must have been", "i can hear",
                                "a lot to deal with"),
    "empathy:validation": ("understandable", "anyone would", "every right", "right to be",
                           "makes sense that you", "i'd feel the same", "perfectly reasonable"),
    "empathy:apology": ("i'm sorry", "i'm so sorry", "i'm really sorry", "i am sorry",
                        "sorry you", "sorry about", "sorry that", "apologise", "apologize",
                        "apologies"),
    "empathy:reassurance": ("i'll make sure", "i will make sure", "i'll personally",
                            "i'll take care of", "you're in good hands", "i promise",
                            "we'll get this sorted", "i'll get this sorted"),
    "empathy:recap": ("if i've got this right", "just to recap", "so to recap",
                      "what you're saying is"),
    "empathy:exploration": ("tell me more", "walk me through", "when did it start",
                            "when did this start", "how has this affected"),
    "empathy:follow_up": ("call you back", "follow up", "check in with you", "i'll email you",
                          "get back to you"),
    "dismissive": ("calm down", "nothing i can do", "not my department", "already told you",
                   "should have read", "not my problem", "not our problem", "like everyone else"),
    "sympathy": ("poor you", "poor thing", "sorry for you", "too bad", "a shame", "what a pity"),
    # configs/default.yaml turns.hold_phrases: only hold announcements may contain them
    "hold_announcement": ("let me check", "let me look", "let me see", "one moment",
                          "just a moment", "bear with me", "please hold", "hold on",
                          "put you on hold", "place you on hold", "give me a second",
                          "give me a moment", "give me a minute", "just a second",
                          "just a minute", "let me pull up", "let me find", "while i check",
                          "i'll check", "i will check", "i'll look into"),
    "distress": ("frustrated", "frustrating", "worried", "upset", "stressed", "third time",
                 "fed up", "ridiculous", "scared", "panicking", "angry", "unacceptable",
                 "at my wits", "can't believe", "desperate", "need this sorted"),
}

# Words that only an agent's own line is checked for; customers may say "sorry" freely.
_AGENT_CHECKED = AGENT_LABELS
_CUSTOMER_CHECKED = CUSTOMER_LABELS + ("hold_announcement",)


@dataclass(frozen=True)
class Backchannel:
    """A short acknowledgement by the OTHER party placed inside a line (at ~`at` of its length)."""

    text: str
    at: float = 0.5


@dataclass(frozen=True)
class Line:
    speaker: Speaker
    text: str
    labels: tuple[str, ...] = ()
    cue: Cue = Cue.NEXT
    backchannels: tuple[Backchannel, ...] = ()
    after: str | None = None   # INTERRUPT only: cut in after the victim has said this phrase


@dataclass(frozen=True)
class CallScript:
    name: str
    topic: str
    company: str
    lines: tuple[Line, ...]
    agent_gender: Literal["m", "f", "any"] = "any"

    def render_text(self, agent_name: str) -> "CallScript":
        """The script with {agent}/{company} placeholders filled in."""
        def fill(t: str) -> str:
            return t.format(agent=agent_name, company=self.company)
        lines = tuple(Line(l.speaker, fill(l.text), l.labels, l.cue, l.backchannels, l.after)
                      for l in self.lines)
        return CallScript(self.name, self.topic, self.company, lines, self.agent_gender)


# ----------------------------------------------------------------------------- authoring helpers

GREETING = "Thank you for calling {company}, my name is {agent}, how can I help you today?"


def A(text: str, *labels: str, cue: Cue = Cue.NEXT, bc: tuple[Backchannel, ...] = (),
      after: str | None = None) -> Line:
    return Line("agent", text, tuple(labels), cue, tuple(bc), after)


def C(text: str, *labels: str, cue: Cue = Cue.NEXT, bc: tuple[Backchannel, ...] = (),
      after: str | None = None) -> Line:
    return Line("customer", text, tuple(labels), cue, tuple(bc), after)


def B(text: str, at: float = 0.5) -> Backchannel:
    return Backchannel(text, at)


ACK, VAL, APO, REA, REC, EXP, FUP = (f"empathy:{c}" for c in EMPATHY_CATEGORIES)
DIS, SYM, HOLD, DISTRESS = "dismissive", "sympathy", "hold_announcement", "distress"


# ----------------------------------------------------------------------------------- lint

def _norm(text: str) -> str:
    return " " + re.sub(r"\s+", " ", text.lower().replace("\u2019", "'")) + " "


def markers_in(text: str, label: str) -> list[str]:
    t = _norm(text)
    return [m for m in MARKERS[label] if re.search(r"(?<![\w'])" + re.escape(m) + r"(?![\w'])", t)]


def words(text: str) -> int:
    return len(re.findall(r"[A-Za-z']+", text))


def lint_script(script: CallScript) -> list[str]:
    """Problems that make a script's truth ambiguous or its cues unrenderable (empty = fine)."""
    problems: list[str] = []
    lines = script.lines
    first = lines[0]
    if first.speaker != "agent" or "thank you for calling" not in first.text.lower() \
            or "my name is" not in first.text.lower():
        problems.append("call must open with the agent greeting and introduction")
    for i, line in enumerate(lines):
        where = f"{script.name}[{i}] {line.text[:40]!r}"
        problems += [f"{where}: {p}" for p in _lint_line(line)]
        problems += [f"{where}: {p}" for p in _lint_cue(lines, i)]
    return problems


def _lint_line(line: Line) -> list[str]:
    out: list[str] = []
    allowed = AGENT_LABELS if line.speaker == "agent" else CUSTOMER_LABELS
    for lab in line.labels:
        if lab not in allowed:
            out.append(f"label {lab!r} not allowed on a {line.speaker} line")
    checked = _AGENT_CHECKED if line.speaker == "agent" else _CUSTOMER_CHECKED
    for lab in checked:
        found = markers_in(line.text, lab)
        if lab in line.labels and not found:
            out.append(f"labelled {lab} but has none of its marker phrases")
        if found and lab not in line.labels:
            out.append(f"says {found} but is not labelled {lab}")
    # a real turn must never look like a backchannel (<= 3 words from the backchannel list)
    if words(line.text) < 6:
        out.append("turns need >= 6 words so they cannot pass for a backchannel")
    for b in line.backchannels:
        if b.text not in BACKCHANNELS:
            out.append(f"backchannel {b.text!r} not in BACKCHANNELS")
        if not 0.1 <= b.at <= 0.9:
            out.append("backchannel position must be within 0.1-0.9 of the line")
    return out


def _lint_cue(lines: tuple[Line, ...], i: int) -> list[str]:
    line, prev = lines[i], (lines[i - 1] if i else None)
    nxt = lines[i + 1] if i + 1 < len(lines) else None
    out: list[str] = []
    if prev is None:
        return ["first line must use Cue.NEXT"] if line.cue is not Cue.NEXT else []
    if line.cue is Cue.SLOW and not (line.speaker == "agent" and prev.speaker == "customer"):
        out.append("SLOW is an agent answering a customer")
    if line.cue is Cue.INTERRUPT:
        if prev.speaker == line.speaker:
            out.append("INTERRUPT needs the previous line to be the other party's")
        if prev.backchannels:
            out.append("an interrupted line cannot carry backchannels")
        if prev.cue is Cue.INTERRUPT:
            out.append("an interrupter cannot itself be interrupted")
        if words(prev.text) < 18:
            out.append("the interrupted line needs >= 18 words so the cut lands mid-sentence")
        if words(line.text) < 9:
            out.append("the interrupter must hold the floor: >= 9 words")
        if line.after is None or line.after not in prev.text:
            out.append("INTERRUPT needs after= a phrase of the interrupted line")
        elif len(prev.text) - prev.text.index(line.after) - len(line.after) < 40:
            out.append("the interrupted line must go on >= 40 characters after the cue phrase")
    elif line.after is not None:
        out.append("after= only applies to INTERRUPT lines")
    if line.cue is Cue.HOLD and HOLD not in prev.labels:
        out.append("HOLD must follow a hold announcement")
    if HOLD in line.labels and (nxt is None or nxt.cue not in (Cue.DEAD_AIR, Cue.HOLD)):
        out.append("a hold announcement must be followed by DEAD_AIR/HOLD")
    if line.backchannels and words(line.text) < 16:
        out.append("backchannels need a host line of >= 16 words")
    if DISTRESS in line.labels and not any(l.speaker == "agent" for l in lines[i + 1:i + 3]):
        out.append("a distress line needs an agent reply right after it")
    return out


# ------------------------------------------------------------------------------------ scripts
# Conventions: {agent}/{company} are filled in at render time. Keep digits out (ASR); keep
# non-monologue agent stretches short (<= ~45 words), monologues >= ~190 words.

BILLING_DISPUTE = CallScript("billing_dispute", "double charge on a phone bill",
                             "Clearwave Mobile", (
    A(GREETING),
    C("Hi, I just opened my bill and I've been charged twice for the same month. The whole amount "
      "shows up two times on my bank statement.", bc=(B("mm hmm", 0.55),)),
    A("That sounds really annoying, especially when you weren't expecting it. Can you tell me more "
      "about when you first noticed the second payment?", ACK, EXP),
    C("It came out of my account yesterday morning, and now I'm really worried because my rent "
      "goes out on Friday and there isn't enough left to cover it.", DISTRESS,
      bc=(B("I see", 0.6),)),
    A("I'm so sorry you're dealing with this right before your rent is due. I'll make sure the "
      "duplicate payment is refunded today.", APO, REA),
    C("Okay, thank you. How long does a refund usually take to show up?"),
    A("Refunds to a debit card normally appear within two working days, but I've marked this one "
      "as urgent, so it should be quicker.", cue=Cue.SLOW),
    C("Two days is still cutting it close. Is there any way to speed it up even more?"),
    A("I can ask our payments team to send it the same day. I'll call you back on Thursday morning "
      "to confirm the money has arrived.", FUP),
    C("That would be great, I really appreciate your help."),
    A("You're very welcome. Is there anything else I can do for you today?"),
    C("No, that's everything. Thanks again for your help, goodbye."),
), agent_gender="any")

LOST_PARCEL = CallScript("lost_parcel", "parcel marked delivered but missing",
                         "Parcelway Couriers", (
    A(GREETING),
    C("Hello, I'm calling about a parcel that was supposed to arrive last Tuesday. The tracking "
      "page says it was delivered, but there's nothing at my door and my neighbours haven't seen "
      "it either.", bc=(B("got it", 0.45),)),
    A("What's the full name and address on the delivery, please?"),
    C("It's Daniel Brooks, on Hazel Road in Leeds, the house with the green door."),
    A("Okay, the driver marked it as left in a safe place at the front of the house.",
      cue=Cue.DEAD_AIR),
    C("There is no safe place at the front of my house, it opens straight onto a busy street. "
      "Honestly I'm so fed up, it was a birthday present for my daughter.", DISTRESS),
    A("The driver's photo shows the parcel next to a blue door. Is your front door blue?"),
    C("No, it's green, like I said. So it went to the wrong address entirely."),
    A("In that case the next step is to open an investigation with the driver's depot, which "
      "usually takes up to ten working days, and after that we decide whether a replacement or a "
      "refund is the right option for the sender."),
    C("Ten working days? Her birthday is on Saturday, I need this sorted before then.", DISTRESS,
      cue=Cue.INTERRUPT, after="ten working days"),
    A("There's nothing I can do about the investigation time, that's the process for every "
      "missing parcel.", DIS),
    C("Then can you at least tell the shop it went missing, so they can send another one?"),
    A("Yes, I can email the sender today with the driver's photo and the investigation details."),
    C("Fine. Please do that as soon as possible."),
    A("That's done now. Is there anything else today?"),
    C("No, that's all I needed for now, goodbye."),
), agent_gender="any")

PASSWORD_RESET = CallScript("password_reset", "locked out, reset email never arrives",
                            "Nimbus Cloud Storage", (
    A(GREETING),
    C("Hi, I've been locked out of my account since this morning, and the password reset email "
      "never arrives."),
    A("Can you walk me through what happens when you press the reset button?", EXP),
    C("It says an email has been sent, but nothing shows up, not even in my spam folder."),
    A("I can see the problem now. The email address on your account has a small typo in it."),
    C("Oh, that explains it. Can you correct it for me?"),
    # monologue: ~190 words, >= 38 s even at the fastest agent speed
    A("Yes, it's corrected now, so here's what happens next. In a few minutes you'll get a message "
      "from us with the subject line account recovery.", bc=(B("okay", 0.6),)),
    A("Open it and press the blue button that says reset password. It takes you to a page where "
      "you choose a new password, and it needs to be at least twelve characters long, with a mix "
      "of letters and numbers.", bc=(B("mm hmm", 0.5),)),
    A("Once you've saved it, the app on your phone will sign you out, and you'll need to sign back "
      "in with the new password. That's normal, and it keeps your files safe. If the app still "
      "shows the old screen, just close it and open it again.", bc=(B("yeah", 0.55),)),
    A("After that, I'd strongly recommend turning on two step verification in the security "
      "settings, so that next time you can recover the account with a text message instead of "
      "the email. It only asks for a code when you sign in on a new device, so it won't get in "
      "your way."),
    A("And if anything on that page looks different from what I've described, just reply to the "
      "recovery email and it comes straight back to our team."),
    C("Great, that's really clear. I'll do that right now."),
    A("Perfect. Is there anything else I can help you with?"),
    C("No, that was it. Thanks for your help, bye."),
), agent_gender="any")

CANCELLED_FLIGHT = CallScript("cancelled_flight", "cancelled flight before a wedding",
                              "SkyBridge Airlines", (
    A(GREETING),
    C("Hi, my flight to Lisbon tonight was just cancelled, and I'm supposed to be at my sister's "
      "wedding tomorrow afternoon.", bc=(B("okay", 0.5),)),
    A("Oh, that's too bad. Do you have your booking reference there?", SYM),
    C("Yes, it's on the email, under the name Claire Donovan. I'm really worried I'm going to "
      "miss the ceremony, I've been planning this trip for months.", DISTRESS),
    A("The next available seat on a direct flight is on Thursday morning.", cue=Cue.SLOW),
    C("Thursday? That's after the wedding. Surely there's something earlier, maybe with a "
      "connection through another city, I don't mind a longer journey if it gets me there."),
    A("That's not my department, connecting flights are handled by our partner airlines.", DIS,
      cue=Cue.INTERRUPT, after="another city"),
    C("So who am I supposed to call? Nobody at the airport could help me either."),
    A("Calm down, please. I can give you the number for the partner desk.", DIS),
    C("I am calm, I just want to get to my sister's wedding on time."),
    A("I feel so sorry for you, it's a shame about the wedding. I'm sending the partner desk "
      "number to your email now.", SYM),
    C("Fine, send it through to my email, thank you."),
    A("Thank you for flying with SkyBridge Airlines today, goodbye."),
), agent_gender="any")

BROKEN_DEVICE = CallScript("broken_device", "laptop screen goes black", "Zentek Electronics", (
    A(GREETING),
    C("Hi, my laptop screen started flickering a few days ago, and now it goes completely black "
      "every time I open the lid more than halfway.", bc=(B("I see", 0.55),)),
    A("That must be really annoying when you need it every day. When did it start, was it after "
      "an update or a drop?", ACK, EXP),
    C("No drops at all. It just started on Monday, right after a software update, and I have exams "
      "next week, so I'm honestly stressed out about it.", DISTRESS),
    A("It's completely understandable to feel that way with exams coming up. So if I've got this "
      "right, the screen goes black past halfway, and it began after Monday's update.", VAL, REC),
    C("Yes, exactly, that's what happens every single time."),
    A("Let me look up your warranty, just a moment.", HOLD),
    A("Thanks for waiting. Your laptop is still under warranty, so the repair is free. We can send "
      "a courier tomorrow to collect it, and the repair centre usually needs about five days, "
      "so you'd have it back by the end of next week at the latest.", cue=Cue.DEAD_AIR),
    C("Five days? I really need it for revising, is there any way to get it back sooner?",
      cue=Cue.INTERRUPT, after="five days"),
    A("I'll make sure it's marked as a priority repair, and I'll call you back on Thursday to see "
      "how it's going.", REA, FUP),
    C("Okay, that helps a lot. Thank you for being so patient with me."),
    A("It's my pleasure. Good luck with your exams."),
    C("Thanks so much, have a good day."),
), agent_gender="any")

INSURANCE_CLAIM = CallScript("insurance_claim", "burst pipe, water through the ceiling",
                             "Harbour Home Insurance", (
    A(GREETING),
    C("Hello, a pipe burst in my kitchen last night and the water has come through the ceiling "
      "into the living room. I've never made a claim before and I don't know where to start.",
      bc=(B("mm hmm", 0.5),)),
    A("I'm so sorry, that sounds really stressful. You've come to the right place, and I'll take "
      "care of the claim with you step by step.", APO, ACK, REA),
    C("Thank you. The plumber has fixed the pipe, but the carpet is soaked and part of the ceiling "
      "looks like it might come down."),
    A("Is everyone safe, and have you been able to keep people out of that room?"),
    C("Yes, everyone is fine, we've closed the door and moved the furniture out."),
    A("Good. I need to register the claim with our property team, so I'm going to place you on "
      "hold for a few minutes.", HOLD),
    A("Thank you for holding. Your claim is now registered, and a loss adjuster will visit you on "
      "Wednesday morning to look at the damage.", cue=Cue.HOLD),
    C("Wednesday? I'm worried the ceiling won't last that long, and I've got two small children at "
      "home.", DISTRESS),
    A("That's completely understandable. I'll ask for an emergency visit tomorrow instead, and "
      "I'll call you back this afternoon to confirm the time.", VAL, FUP),
    C("Okay, thank you, that's a big relief."),
    A("In the meantime, keep photos of everything and keep any receipts for drying equipment. Is "
      "there anything else I can help with?"),
    C("No, that's everything for now. Thanks again."),
), agent_gender="any")

INTERNET_OUTAGE = CallScript("internet_outage", "broadband down for a home worker",
                             "Fibrenet Broadband", (
    A(GREETING),
    C("Hi, my broadband has been down since yesterday afternoon, and I work from home, so I've "
      "lost a full day of work already.", bc=(B("uh huh", 0.55),)),
    A("Have you tried switching the router off and on again?", cue=Cue.SLOW),
    C("Yes, several times. The lights come on, but the internet light stays red, and I'm honestly "
      "fed up with this, it happened last month too.", DISTRESS),
    A("A red light usually means the line is down. Can you confirm the address for the account?"),
    C("It's the flat above the bakery on Park Lane, in Brighton."),
    A("There is a known outage in your area and our engineers are working on it, but I can't give "
      "you a time for the fix, because the network team hasn't shared one yet and they usually "
      "update the status page in the evening.", cue=Cue.SLOW),
    C("Can you at least give me some compensation for the days I can't work?", cue=Cue.INTERRUPT,
      after="time for the fix"),
    A("Compensation is handled by the billing team, that's not my department.", DIS),
    C("Then can you transfer me to the billing team, or have them contact me today?"),
    A("I'm passing your details on now, and they'll contact you by email within a day."),
    C("Alright. Please make sure they actually do."),
    A("Thanks for calling Fibrenet Broadband today, goodbye now."),
), agent_gender="any")

SUBSCRIPTION_CANCEL = CallScript("subscription_cancel", "cancelling a streaming subscription",
                                 "StreamBox", (
    A(GREETING),
    C("Hi, I'd like to cancel my subscription, please. I'm not really using it much anymore."),
    # monologue (retention pitch): ~180 words
    A("I can help with that. Before you go, I'd like to tell you about a couple of options that "
      "might suit you better than cancelling completely."),
    A("We have a basic plan at half the price of your current one. It has the same films and "
      "series, but only on one screen at a time, and the picture is in standard definition rather "
      "than high definition.", bc=(B("mm hmm", 0.5),)),
    A("There's also a pause option, where your account is frozen for up to three months. You "
      "don't pay anything during that time, and your watch list and profiles are kept exactly as "
      "they are. Lots of people use it over the summer, when they're travelling or simply watching "
      "less, and then pick up again in the autumn right where they left off.",
      bc=(B("okay", 0.55),)),
    A("And because you've been with us for more than a year, you also qualify for a loyalty "
      "discount on the annual plan, which brings the monthly cost down quite a bit compared to "
      "what you pay now."),
    A("Any of these can be switched on today, and you can still cancel completely later on if it "
      "doesn't work out for you."),
    C("Thanks, but I really just want to cancel, I've made up my mind."),
    A("Of course, that's completely understandable. I'm cancelling it now and sending you a "
      "confirmation email.", VAL),
    C("Great. Will I still be able to watch until the end of the month?"),
    A("Yes, your access continues until the end of the billing period, and we keep your profiles "
      "for ten months in case you decide to come back and pick up where you left off."),
    C("That's fine, I won't be coming back. Just don't charge me again, please.",
      cue=Cue.INTERRUPT, after="ten months"),
    A("You won't be charged again. Thanks for being with us, goodbye."),
), agent_gender="any")

BANK_CARD_BLOCKED = CallScript("bank_card_blocked", "card blocked by fraud checks",
                               "Meridian Bank", (
    A(GREETING),
    C("Hi, my card was declined at the supermarket this morning, and then again at the pharmacy. "
      "I'm so worried, I've got no other way to pay for my medication.", DISTRESS),
    A("Can you confirm your full name and the first line of your address?"),
    C("Yes, it's Margaret Ellis, and I live on Orchard Close."),
    A("Your card has been blocked by our fraud system because of a payment attempt from another "
      "country last night.", cue=Cue.DEAD_AIR),
    C("Another country? I haven't been abroad for years. Does that mean someone has stolen my card "
      "details and has been using them to buy things online without me knowing?"),
    A("So if I've got this right, you didn't make any payment last night, and the card has been "
      "with you the whole time?", REC, cue=Cue.INTERRUPT, after="stolen my card details"),
    C("That's right, it's been in my purse all along."),
    A("Okay. I've cancelled that card and ordered a new one, which should arrive within five "
      "working days."),
    C("Five days? How am I supposed to pay for anything until then?"),
    A("You can withdraw cash at any of our branches with photo identification, and I'll make sure "
      "your emergency cash limit is raised today.", REA),
    C("Alright, that will do. Thank you for sorting it out."),
    A("You're welcome, Margaret. Take care now, and goodbye."),
), agent_gender="any")

HOTEL_BOOKING = CallScript("hotel_booking", "booking missing at check-in", "Staywell Hotels", (
    A(GREETING),
    C("Hi, I've just arrived at your hotel in Manchester with my two kids, and the front desk says "
      "there's no booking under my name, even though I paid for it online weeks ago.",
      bc=(B("right", 0.5),)),
    A("Oh, poor you, after a long journey as well.", SYM),
    C("It's nearly ten at night, the kids are exhausted, and I'm getting really upset standing "
      "here in the lobby.", DISTRESS),
    A("You have every right to be upset, and I'm really sorry about this mix up. What's the email "
      "address you used for the booking?", VAL, APO),
    C("It's the one with my surname, Patel, at gmail."),
    A("Thank you, I've found the booking now. It was made for next month by mistake, so the system "
      "didn't show it tonight, and because the hotel is fully booked the front desk couldn't offer "
      "you a room."),
    C("Fully booked? So where are we supposed to sleep tonight?", cue=Cue.INTERRUPT,
      after="fully booked"),
    A("I'll make sure you have a room tonight. Our partner hotel across the road has a family room "
      "free, and we'll cover the cost.", REA),
    C("Oh, thank goodness. Thank you so much."),
    A("I'm also moving your original booking to the right dates, and I'll email you the "
      "confirmation in the next ten minutes.", FUP),
    C("That's perfect, thank you for your help."),
), agent_gender="any")

APPOINTMENT = CallScript("appointment_reschedule", "moving a doctor's appointment",
                         "Riverside Medical Centre", (
    A(GREETING),
    C("Hello, I have an appointment with doctor Evans on Friday morning, but I've been asked to "
      "work that day, so I need to move it if possible.", bc=(B("mm hmm", 0.55),)),
    A("No problem at all. Can you tell me more about what the appointment is for, so I can find "
      "the right kind of slot?", EXP),
    C("It's a check up for my blood pressure. The doctor wanted to see how the new tablets are "
      "working."),
    A("Thank you. Doctor Evans has a free slot on Monday afternoon, or on Tuesday first thing in "
      "the morning."),
    C("Monday afternoon would be best, ideally after three o'clock if there's anything then."),
    A("There's one at half past three on Monday. So just to recap, I'm moving your Friday "
      "appointment to Monday at half past three with doctor Evans.", REC),
    C("Yes, that's perfect, thank you very much."),
    A("You'll get a text message to confirm it. Please bring a list of any side effects you've "
      "noticed with the new tablets, and your blood pressure readings from home if you take "
      "them.", bc=(B("okay", 0.5),)),
    C("Will do. Thanks very much for your help, goodbye."),
), agent_gender="any")

ENERGY_BILL = CallScript("energy_bill", "quarterly bill tripled after a deal ended",
                         "Brightside Energy", (
    A(GREETING),
    C("Hi, my energy bill this quarter is almost three times what I normally pay, and nothing has "
      "changed in the house. I really can't afford this, and I'm honestly panicking about it.",
      DISTRESS),
    A("Your fixed price deal ended in March, so you've moved onto the standard variable tariff.",
      cue=Cue.SLOW),
    C("Nobody told me it was ending. I would have switched to another deal if I'd known, I always "
      "read your emails, and there was nothing about it at all."),
    A("We sent a letter two months before the end date. You should have read the terms when you "
      "signed up.", DIS, cue=Cue.INTERRUPT, after="if I'd known"),
    C("I'm not saying I didn't read them, I'm saying I never got any letter."),
    A("The letter went to the address on your account. I can put you on a new fixed deal from "
      "today."),
    C("And what about this bill? Do I have to pay all of it, even though nobody told me the deal "
      "had ended and I never had a chance to switch?"),
    A("As I already told you, the letter was sent, so the bill stands as it is.", DIS,
      cue=Cue.INTERRUPT, after="pay all of it"),
    C("Honestly, that's unacceptable. Can I at least pay it in instalments?", DISTRESS),
    A("Yes, I can set up a payment plan over six months."),
    C("Fine, please set that up for me."),
    A("Done. You'll get the details by email. Goodbye."),
), agent_gender="any")

CAR_RENTAL = CallScript("car_rental", "charged for a scratch that was already there",
                        "Swift Car Hire", (
    A(GREETING),
    C("Hi, I returned a rental car last week, and today I got an email saying I'm being charged "
      "for a scratch on the back door. That scratch was already there when I picked the car up.",
      bc=(B("I see", 0.5),)),
    A("That sounds frustrating, especially if the damage was there before you even drove it. Do "
      "you have any photos from the pickup?", ACK),
    C("Yes, I took photos of the whole car in the car park before I left, and the scratch is "
      "clearly visible in two of them.", bc=(B("got it", 0.55),)),
    A("That's really helpful. Let me pull up your rental agreement, bear with me.", HOLD),
    A("Thanks for waiting. So if I've got this right, you have dated photos from the pickup that "
      "show the same scratch we charged you for.", REC, cue=Cue.DEAD_AIR),
    C("Exactly. And I'm quite angry about it, because I was charged straight away without anyone "
      "asking me first.", DISTRESS),
    A("You're right to be angry about that, and I apologise. I'll make sure the charge is reversed "
      "once you've sent the photos.", VAL, APO, REA),
    C("Okay, that's good. Where should I send the photos?"),
    A("Reply to the email you received today and attach the photos. Our damage team checks every "
      "reply within two working days, and once they've confirmed it, the refund goes back to the "
      "card you paid with."),
    C("Two working days on top of everything else? I'd rather it was quicker, but fine.",
      cue=Cue.INTERRUPT, after="two working days"),
    A("I'll follow up with the damage team myself on Friday and send you an update.", FUP),
    C("Thank you, that's all I needed from you today."),
), agent_gender="any")

PHONE_UPGRADE = CallScript("phone_upgrade", "contract upgrade options", "Orbit Mobile", (
    A(GREETING),
    C("Hi, my contract ends this month and I'd like to upgrade my phone. The one I have is so slow "
      "and the battery barely lasts half a day, I'm really frustrated with it.", DISTRESS),
    # distress answered with sympathy (no missed_empathy), then a ~190 word monologue
    A("Oh, that's too bad. Well, you've called at a good time, because you're eligible for an "
      "upgrade from today.", SYM),
    A("We have three plans that most people in your position choose. The first one keeps your "
      "current allowance of data and calls, and adds the new phone for a fixed monthly price over "
      "two years. Most customers on that plan never come close to using all of their data, so it's "
      "a good choice if you mainly use wifi at home.", bc=(B("mm hmm", 0.55),)),
    A("The second plan doubles your data, which is useful if you stream music or video on the way "
      "to work, and it includes free calls to most countries in Europe.", bc=(B("yeah", 0.5),)),
    A("The third is our unlimited plan. It costs a bit more each month, but you'll never run out "
      "of data, and it comes with insurance for accidental damage at no extra cost. It also lets "
      "you share data with up to four other people on the same account, which families tend to "
      "find very handy."),
    A("All three plans include the same phones, so the choice really comes down to how much data "
      "you use and whether the insurance matters to you."),
    C("I think the second one sounds about right for me. How much is it per month?"),
    A("It's twenty nine pounds a month with the phone you'd like, and there's no upfront cost. We "
      "can also transfer your number and contacts, so everything works on the new phone the day it "
      "arrives."),
    C("Wait, does that price stay the same for the whole two years?", cue=Cue.INTERRUPT,
      after="no upfront cost"),
    A("Yes, it's fixed for the full contract, there are no price rises."),
    C("Great, then let's go ahead with the second plan, thank you."),
), agent_gender="any")

FOOD_DELIVERY = CallScript("food_delivery", "wrong takeaway order", "QuickBite Delivery", (
    A(GREETING),
    C("Hi, I've just received my order and it's completely wrong. I ordered a vegetarian curry and "
      "rice, and I got a chicken burger and chips instead. I don't eat meat at all.",
      bc=(B("uh huh", 0.5),)),
    A("I'm so sorry about that. Can you tell me more about what came in the bag, was there "
      "anything from your order?", APO, EXP),
    C("Nothing from my order. It looks like someone else's food entirely, the receipt on the bag "
      "has a different name on it."),
    A("Thank you for checking that. I can either send your original order again right away, which "
      "would take about forty minutes, or refund the full amount to your card."),
    C("Please send it again. I've been waiting over an hour already, this is ridiculous.",
      DISTRESS, cue=Cue.INTERRUPT, after="send your original order again"),
    A("That's completely understandable after such a long wait. I'll make sure the kitchen puts "
      "it first, and I'm adding a voucher for your next order as well.", VAL, REA),
    C("Okay, thank you, I really appreciate that."),
    A("You'll get a text when the driver is on the way. Enjoy your meal, and have a good evening."),
    C("Thanks a lot, you have a good evening too."),
), agent_gender="any")

GYM_MEMBERSHIP = CallScript("gym_membership", "charged after cancelling a membership",
                            "PeakFit Gyms", (
    A(GREETING),
    C("Hi, I cancelled my gym membership two months ago, but you've taken the monthly payment "
      "again, for the second time since I cancelled.", bc=(B("okay", 0.5),)),
    A("Can I take the email address on the membership, please?", cue=Cue.SLOW),
    C("It's the one I registered with, sam taylor at outlook."),
    A("I can see a cancellation request from March, but it was never confirmed by the branch, so "
      "the membership stayed active.", cue=Cue.DEAD_AIR),
    C("That's not my fault. I filled in the form at the front desk and the manager said it was "
      "done. I'm really stressed about money right now, and this is the third time I've called.",
      DISTRESS),
    A("Cancellations have to be confirmed by email. The front desk can't cancel memberships."),
    C("Nobody ever told me that. Can I get the two payments back, please?"),
    A("As I already told you, the membership was active, so the payments were valid.", DIS),
    C("This is ridiculous. I want to speak to a manager, because I followed the process your own "
      "staff gave me, and I have the paper copy of the form right here in front of me.", DISTRESS),
    A("I can ask a manager to review it, and they'll reply by email within three working days.",
      cue=Cue.INTERRUPT, after="speak to a manager"),
    C("Fine. And please make sure they actually do."),
    A("The request is logged. Thanks for calling, goodbye."),
), agent_gender="any")

ADDRESS_CHANGE = CallScript("address_change", "moving a water account to a new home",
                            "Greenleaf Water", (
    A(GREETING),
    C("Hi, I'm moving house at the end of the month, and I need to move my water account to the "
      "new address."),
    A("Congratulations on the move. I can set that up for you now. What's the new address?"),
    C("It's Willow Cottage, on Station Road, in the village of Ashford."),
    A("Thank you, that's all updated, so here's how the move works on our side. On the day you "
      "leave, take a photo of the water meter at your current home, and send us the reading "
      "through the app or the website.", bc=(B("sure", 0.55),)),
    A("We use that reading to work out your final bill for the old address. It usually arrives "
      "within two weeks, and any money you've paid in advance is taken off it, or refunded if "
      "you're in credit. If you'd rather not use the app, you can also read the numbers out to our "
      "automated phone line, which is open every day of the week.", bc=(B("mm hmm", 0.5),)),
    A("Your direct debit moves across to the new account automatically, so you don't need to fill "
      "in any forms with your bank. The first payment at the new address will be a little lower, "
      "because it only covers part of the month."),
    A("At the new home, do the same thing on the day you move in, a photo of the meter, so you "
      "only pay for the water you actually use from that day on."),
    A("And finally, you'll receive a welcome pack in the post with your new account details and "
      "some tips on saving water in the garden."),
    C("Great, that all makes sense. Thanks for explaining it so clearly."),
    A("You're welcome, and good luck with the move."),
    C("Thank you very much for your help, goodbye."),
), agent_gender="any")

REFUND_STATUS = CallScript("refund_status", "refund for a returned jacket", "Atlas Outdoor", (
    A(GREETING),
    C("Hello, I sent a jacket back to you three weeks ago and I still haven't had my refund. The "
      "courier confirmed you received it on the fifth of the month.", bc=(B("mm hmm", 0.5),)),
    A("Can you tell me more about how you sent it back, did you use our returns label?", EXP),
    C("Yes, I printed the label from your website and dropped it at the post office the same "
      "day."),
    A("Thank you. I'm looking for the return in our warehouse system, so give me a moment.", HOLD),
    A("Thanks for waiting. The jacket arrived at our warehouse, but the return was never "
      "processed, which is why the refund didn't go through. I'm sorry about the delay.", APO,
      cue=Cue.DEAD_AIR),
    C("Okay, at least you found it. When will I get the money?"),
    A("I've processed it now, so you'll see the refund on your card in three to five working days. "
      "I'll email you tomorrow to confirm it has gone through.", FUP, cue=Cue.SLOW),
    C("Okay, great. Thank you for sorting it out."),
    A("You're welcome. Have a lovely rest of your day."),
), agent_gender="any")

BENCH_SCRIPTS: tuple[CallScript, ...] = (
    BILLING_DISPUTE, LOST_PARCEL, PASSWORD_RESET, CANCELLED_FLIGHT, BROKEN_DEVICE,
    INSURANCE_CLAIM, INTERNET_OUTAGE, SUBSCRIPTION_CANCEL, BANK_CARD_BLOCKED, HOTEL_BOOKING,
    APPOINTMENT, ENERGY_BILL, CAR_RENTAL, PHONE_UPGRADE, FOOD_DELIVERY, GYM_MEMBERSHIP,
    ADDRESS_CHANGE, REFUND_STATUS,
)

# ------------------------------------------------------------------------ committed samples

DEMO_CALL = CallScript("demo_call", "broadband drops before a presentation", "Northwind Telecom", (
    A(GREETING),
    C("Hi, my internet keeps dropping every evening, and I work from home, so I lose my video "
      "calls with clients. Honestly, I'm really frustrated, this is the third time I've called.",
      DISTRESS, bc=(B("mm hmm", 0.3),)),
    A("Okay. Have you tried restarting the router at your end?", cue=Cue.SLOW),
    C("Yes, of course I have, I restart it every single night and the connection drops again an "
      "hour later, sometimes even sooner than that."),
    A("As I already told you, the router needs a full reset, not just a restart.", DIS,
      cue=Cue.INTERRUPT, after="every single night"),
    C("Nobody told me that. Can you see if there's a fault on your side?"),
    A("Let me check that for you, one moment.", HOLD),
    A("Thanks for waiting. There's a fault on the line in your street, and the repair should be "
      "done by tomorrow evening, once the engineers have replaced a damaged cable in the street "
      "cabinet.", cue=Cue.DEAD_AIR),
    C("Tomorrow evening? I have a client presentation tomorrow morning.", cue=Cue.INTERRUPT,
      after="tomorrow evening"),
    A("I'm sorry, that's really bad timing. I'll make sure a mobile hotspot is sent to you today.",
      APO, REA),
), agent_gender="m")

SAMPLE_MONOLOGUE = CallScript("sample_monologue", "explaining roaming charges",
                              "Clearwave Mobile", (
    A(GREETING),
    C("Hi, I'm off to Canada next week. How does roaming work on my plan?"),
    A("Of course. Your plan doesn't include Canada by default, so as soon as you land, your phone "
      "will connect to a local partner network, and you'll get a text message from us with the "
      "daily roaming price.", bc=(B("okay", 0.55),)),
    A("If you add the travel pass before you leave, you pay a fixed amount for each day you use "
      "your phone abroad, and you can use your normal allowance of calls, texts and data, just "
      "like you do at home.", bc=(B("mm hmm", 0.5),)),
    A("On days when you don't use your phone at all, you're not charged anything, so it's worth "
      "switching off mobile data when you don't need it, and using hotel wifi where you can. Data "
      "works the same way, and you'll get a text when you've used most of your daily allowance, "
      "so there are no surprises on your bill when you get home."),
    A("You can add the pass in the app under travel, or I can add it for you now, and it stays on "
      "your account until you remove it."),
    C("Perfect, thanks for explaining it so clearly."),
), agent_gender="m")

SAMPLE_CROSSTALK = CallScript("sample_crosstalk", "plumber missed the booked visit",
                              "HomeFix Services", (
    A(GREETING),
    C("Hi, I booked a plumber through your website for this morning, but nobody has turned up, "
      "and I took the day off work for it.", bc=(B("okay", 0.5),)),
    A("The plumber had to go to an emergency job, so your visit was moved to this afternoon, and "
      "the text message about it didn't reach you.", cue=Cue.DEAD_AIR),
    C("Nobody told me anything. I'm really frustrated, I've wasted half a day waiting.", DISTRESS,
      cue=Cue.INTERRUPT, after="this afternoon"),
    A("I'm sorry, that sounds really frustrating. I'll make sure he's with you by two o'clock.",
      APO, ACK, REA, cue=Cue.SLOW),
    C("Okay. Please ask him to call me when he's on his way."),
), agent_gender="m")

SAMPLE_SCRIPTS: tuple[CallScript, ...] = (DEMO_CALL, SAMPLE_MONOLOGUE, SAMPLE_CROSSTALK)

ALL_SCRIPTS: tuple[CallScript, ...] = BENCH_SCRIPTS + SAMPLE_SCRIPTS
