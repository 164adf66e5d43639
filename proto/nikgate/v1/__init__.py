"""nikgate API v1: generated protobuf and gRPC stubs (built from the .proto files here)."""
