"""Small shared helpers: media output."""
