#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    ps_http::telemetry::init();
    ps_http::run(console::handle).await
}
