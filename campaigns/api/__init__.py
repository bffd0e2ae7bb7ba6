"""The public JSON API (Sociocs-compatible): views, key authentication, OpenAPI document."""
