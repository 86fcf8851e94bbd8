"""Generated from schemas/*.fbs by tools/gen_schemas.py. Do not edit."""
