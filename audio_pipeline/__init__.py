"""audio_pipeline: timestamped reviews of customer-service calls (agent vs customer)."""

__version__ = "0.1.0"
