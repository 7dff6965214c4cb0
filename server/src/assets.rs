//! The browser code in `widget/`, embedded into the binary (so a release
//! build is self-contained) and served at `/widget/…`, `/agent/…` and, with
//! `--dev`, the demo page at `/`.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rust_embed::RustEmbed;

/// The files under `widget/`.
#[derive(RustEmbed)]
#[folder = "../widget/"]
#[exclude = "*.md"]
struct Widget;

/// Adds the asset routes.
pub fn routes<S: Clone + Send + Sync + 'static>(router: Router<S>, dev: bool) -> Router<S> {
    let router = router
        .route(
            "/widget/{*path}",
            get(|Path(p): Path<String>| async move { serve(&format!("widget/{p}")) }),
        )
        .route(
            "/agent",
            get(|| async { axum::response::Redirect::permanent("/agent/") }),
        )
        .route("/agent/", get(|| async { serve("agent/index.html") }))
        .route(
            "/agent/{*path}",
            get(|Path(p): Path<String>| async move { serve(&format!("agent/{p}")) }),
        );
    if dev {
        router.route("/", get(|| async { serve("demo/index.html") }))
    } else {
        router
    }
}

fn serve(path: &str) -> Response {
    match Widget::get(path) {
        Some(file) => (
            [
                (header::CONTENT_TYPE, file.metadata.mimetype().to_owned()),
                (header::CACHE_CONTROL, "no-cache".to_owned()),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
            ],
            file.data,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}
