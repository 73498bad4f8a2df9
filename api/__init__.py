"""HTTP service for the moderation library: a thin FastAPI layer over `moderation.Moderator`."""
