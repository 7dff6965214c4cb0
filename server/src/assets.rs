//! The browser code in `widget/`, embedded into the binary (so a release
//! build is self-contained) and served at `/widget/…`, `/agent/…` and, with
//! `--dev`, the demo page at `/`.
//!
//! `/widget/switchboard-widget.js` is served as `switchboard-core.js` followed
//! by `switchboard-widget.js` (the code the widget shares with the agent pane,
//! then the widget), so an embedding site still needs one script tag;
//! `/widget/switchboard-core.js` alone is what the agent pane loads.

use std::borrow::Cow;

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

/// The widget script embedding sites load; served with [`CORE_SCRIPT`] ahead of it.
const WIDGET_SCRIPT: &str = "widget/switchboard-widget.js";
/// The code the widget shares with the agent pane (`window.SwitchboardCore`).
const CORE_SCRIPT: &str = "widget/switchboard-core.js";

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
    let Some(file) = Widget::get(path) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let body = if path == WIDGET_SCRIPT {
        with_core(&file.data)
    } else {
        file.data
    };
    (
        [
            (header::CONTENT_TYPE, file.metadata.mimetype().to_owned()),
            (header::CACHE_CONTROL, "no-cache".to_owned()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        ],
        body,
    )
        .into_response()
}

/// `switchboard-core.js`, a line break, then `script`: one file for one tag.
fn with_core(script: &[u8]) -> Cow<'static, [u8]> {
    let core = Widget::get(CORE_SCRIPT).map(|f| f.data).unwrap_or_default();
    let mut out = Vec::with_capacity(core.len() + 1 + script.len());
    out.extend_from_slice(&core);
    out.push(b'\n');
    out.extend_from_slice(script);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(response: Response) -> Vec<u8> {
        axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body")
            .to_vec()
    }

    #[tokio::test]
    async fn widget_script_is_core_then_widget() {
        let core = Widget::get(CORE_SCRIPT).expect("core embedded").data;
        let widget = Widget::get(WIDGET_SCRIPT).expect("widget embedded").data;
        let response = serve(WIDGET_SCRIPT);
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers();
        let content_type = headers[header::CONTENT_TYPE].to_str().expect("ascii");
        assert!(content_type.contains("javascript"), "{content_type}");
        assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let body = body_of(response).await;
        assert_eq!(body.len(), core.len() + 1 + widget.len());
        assert!(body.starts_with(&core));
        assert!(body.ends_with(&widget));
    }

    #[tokio::test]
    async fn core_script_is_served_alone() {
        let core = Widget::get(CORE_SCRIPT).expect("core embedded").data;
        let response = serve(CORE_SCRIPT);
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(body_of(response).await, core.to_vec());
    }
}
