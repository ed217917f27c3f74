//! The OTLP/HTTP (protobuf) trace pipeline: a batch processor on its own thread hands spans to
//! the exporter, whose requests go out through Gatehouse's reqwest client on a one-thread
//! runtime of their own: never on a request's task, never on pingora's runtimes.

use crate::config::TracingConfig;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use std::time::Duration;
use tokio::runtime::Runtime;

const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// What `telemetry::init` set up; `shutdown` exports what is still buffered.
pub struct Telemetry {
    pipeline: Option<Pipeline>,
}

struct Pipeline {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    runtime: Runtime,
}

impl Telemetry {
    pub(super) fn off() -> Self {
        Telemetry { pipeline: None }
    }

    pub(super) fn start(config: &TracingConfig) -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("gatehouse-otlp")
            .enable_all()
            .build()
            .map_err(|e| format!("tracing: cannot start the export runtime: {e}"))?;
        let http = reqwest::Client::builder()
            .timeout(EXPORT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("tracing: HTTP client: {e}"))?;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(ExportClient {
                http,
                runtime: runtime.handle().clone(),
            })
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(config.otlp_endpoint.as_str())
            .with_timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|e| format!("tracing: OTLP exporter: {e}"))?;
        // A trusted caller's sampling decision stands; new traces are kept at the ratio.
        let sampler =
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(config.sample_ratio)));
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_sampler(sampler)
            .with_resource(
                Resource::builder()
                    .with_service_name(config.service_name.clone())
                    .build(),
            )
            .build();
        let tracer = provider.tracer("gatehouse");
        Ok(Telemetry {
            pipeline: Some(Pipeline {
                provider,
                tracer,
                runtime,
            }),
        })
    }

    pub(super) fn tracer(&self) -> Option<SdkTracer> {
        self.pipeline.as_ref().map(|p| p.tracer.clone())
    }

    /// Exports the spans still buffered (bounded by the export timeout), then stops.
    pub fn shutdown(self) {
        let Some(p) = self.pipeline else { return };
        if let Err(e) = p.provider.shutdown() {
            eprintln!("tracing: final export failed: {e}");
        }
        p.runtime.shutdown_timeout(Duration::from_secs(1));
    }
}

/// The exporter's transport. The batch processor drives exports with a plain executor on its
/// own thread, where reqwest cannot run: each request is handed to the export runtime.
#[derive(Debug)]
struct ExportClient {
    http: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for ExportClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let http = self.http.clone();
        let request = reqwest::Request::try_from(request)?;
        let sent = self.runtime.spawn(async move {
            let response = http.execute(request).await?;
            let mut answer = Response::builder().status(response.status());
            if let Some(headers) = answer.headers_mut() {
                *headers = response.headers().clone();
            }
            let body = response.bytes().await?;
            Ok::<_, HttpError>(answer.body(body)?)
        });
        sent.await?
    }
}
