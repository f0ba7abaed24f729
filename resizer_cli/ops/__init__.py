"""Day-to-day operations on a deployed stack: uploading images, reading logs, the demo."""
