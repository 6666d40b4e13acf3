"""Real services the suite starts itself (SeaweedFS S3, local Ray heads), on free loopback ports."""
