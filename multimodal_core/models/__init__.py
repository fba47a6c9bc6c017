"""The built-in architectures, as plain torch modules (no gradio, no file reading)."""
