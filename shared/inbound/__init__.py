"""Inbound flow: portal webhooks and bulk imports in, ATS records out."""
