//! The edge: routers for the public listeners, authentication, body limits and decompression,
//! the OTLP receive endpoints (HTTP and gRPC) and Tempo's query API. Talks to the rest only
//! through the model's ports; never depends on store or pipeline.
