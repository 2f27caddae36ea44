//! Compiles our declaration of Tempo's query messages and its `StreamingQuerier` service
//! (`proto/tempo.proto`). The OTLP messages it refers to are the model's hand-written prost
//! types, mapped with `extern_path`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: the build script is single-threaded; prost-build reads PROTOC from the environment.
    #[expect(
        unsafe_code,
        reason = "edition 2024 makes set_var unsafe; nothing runs concurrently"
    )]
    unsafe {
        std::env::set_var("PROTOC", protoc)
    };
    println!("cargo:rerun-if-changed=proto");
    tonic_prost_build::configure()
        // The server of `StreamingQuerier`, mounted on the routers by path; the client serves the
        // tests (and the workspace's end-to-end tests) as a real caller would.
        .build_client(true)
        .build_server(true)
        .extern_path(".opentelemetry.proto.trace.v1", "::sextant_model::otlp")
        .extern_path(".opentelemetry.proto.common.v1", "::sextant_model::otlp")
        .compile_protos(&["proto/tempo.proto"], &["proto"])?;
    Ok(())
}
