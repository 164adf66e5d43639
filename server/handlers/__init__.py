"""Thin RPC handlers: parse, call the engine, map the result."""
