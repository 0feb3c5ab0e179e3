"""footage-gateway: library CCTV footage masked, sealed and destroyed on time."""

__version__ = "0.1.0"
