//! The browser code in `widget/`, embedded into the binary (so a release
//! build is self-contained) and served at `/widget/…`, `/agent/…` and, with
//! `--dev`, the demo page at `/`.
//!
//! `/widget/switchboard-widget.js` is served as `switchboard-core.js` followed
//! by `switchboard-widget.js` (the code the widget shares with the agent pane,
//! then the widget), so an embedding site still needs one script tag;
//! `/widget/switchboard-core.js` alone is what the agent pane loads.
//!
//! # Headers
//! Every HTML page (the agent pane, the demo page) gets a
//! `Content-Security-Policy` that loads scripts, styles and connections from
//! the hub only and says who may frame it (`frame-ancestors`: nobody, or for
//! the agent pane `--frame-ancestors`, plus the demo page with `--dev`),
//! `X-Frame-Options` for browsers without CSP, and `Referrer-Policy:
//! no-referrer`. The widget's files are scripts and styles that issuers'
//! sites load cross-site: they get `Cross-Origin-Resource-Policy:
//! cross-origin` and no framing rules.

use std::borrow::Cow;
use std::sync::Arc;

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rust_embed::RustEmbed;

use crate::settings::Settings;

/// The files under `widget/`.
#[derive(RustEmbed)]
#[folder = "../widget/"]
#[exclude = "*.md"]
struct Widget;

/// The widget script embedding sites load; served with [`CORE_SCRIPT`] ahead of it.
const WIDGET_SCRIPT: &str = "widget/switchboard-widget.js";
/// The code the widget shares with the agent pane (`window.SwitchboardCore`).
const CORE_SCRIPT: &str = "widget/switchboard-core.js";

/// The policy of the agent pane (and any other hub page but the demo):
/// everything from the hub itself, nothing inline; `{ancestors}` is filled
/// in from [`Settings::frame_ancestors`].
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
frame-ancestors {ancestors}";

/// The `--dev` demo page's policy: its script and styles are inline (it is
/// one file and shows nothing from outside the hub as HTML), it frames the
/// agent pane, and nobody may frame it.
const DEMO_CSP: &str = "default-src 'none'; script-src 'self' 'unsafe-inline'; \
style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
frame-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Security headers of the HTML pages.
#[derive(Debug, Clone)]
pub struct PagePolicy {
    /// `Content-Security-Policy`: where the page may load from and, through
    /// `frame-ancestors`, who may frame it (clickjacking).
    csp: HeaderValue,
    /// `X-Frame-Options` for browsers that predate `frame-ancestors`; `None`
    /// when framing is allowed to other sites, which it cannot express
    /// (browsers that know CSP ignore it in favour of `frame-ancestors`).
    frame_options: Option<HeaderValue>,
}

impl PagePolicy {
    /// A page that other pages may frame only when listed in `ancestors`
    /// (normalised origins or `'self'`; empty: nobody).
    pub fn framed_by(ancestors: &[String]) -> PagePolicy {
        let list = if ancestors.is_empty() {
            "'none'".to_owned()
        } else {
            ancestors.join(" ")
        };
        let frame_options = if ancestors.is_empty() {
            Some(HeaderValue::from_static("DENY"))
        } else if ancestors.iter().all(|a| a == SELF_ANCESTOR) {
            Some(HeaderValue::from_static("SAMEORIGIN"))
        } else {
            None
        };
        PagePolicy {
            csp: csp_value(PAGE_CSP.replace("{ancestors}", &list)),
            frame_options,
        }
    }

    /// The demo page's.
    fn demo() -> PagePolicy {
        PagePolicy {
            csp: HeaderValue::from_static(DEMO_CSP),
            frame_options: Some(HeaderValue::from_static("DENY")),
        }
    }
}

/// Origins and `'self'` are checked by [`crate::config`] to be plain ASCII;
/// should one slip through, the page is framed by nobody rather than served
/// without a policy.
fn csp_value(csp: String) -> HeaderValue {
    HeaderValue::try_from(csp)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"))
}

/// Who may frame the agent pane: `--frame-ancestors`, plus the hub's own
/// pages with `--dev` (the demo page shows the pane in a frame).
fn pane_ancestors(settings: &Settings) -> Vec<String> {
    let mut ancestors = settings.frame_ancestors.clone();
    if settings.dev && !ancestors.iter().any(|a| a == SELF_ANCESTOR) {
        ancestors.push(SELF_ANCESTOR.to_owned());
    }
    ancestors
}

/// Adds the asset routes.
pub fn routes<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    settings: &Settings,
) -> Router<S> {
    let pane = Arc::new(PagePolicy::framed_by(&pane_ancestors(settings)));
    let unframed = Arc::new(PagePolicy::framed_by(&[]));
    let router = router.route(
        "/widget/{*path}",
        get(move |Path(p): Path<String>| async move { serve(&format!("widget/{p}"), &unframed) }),
    );
    // The staff apps: the agent pane and the supervisor console, framed
    // only by the issuer's agent desktop.
    let router = app_routes(router, "agent", pane.clone());
    let router = app_routes(router, "supervisor", pane);
    if settings.dev {
        let demo = Arc::new(PagePolicy::demo());
        router.route(
            "/",
            get(move || async move { serve("demo/index.html", &demo) }),
        )
    } else {
        router
    }
}

/// `/<app>` (a redirect), `/<app>/` (its page) and `/<app>/<file>`, all
/// with `page`'s headers.
fn app_routes<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    app: &'static str,
    page: Arc<PagePolicy>,
) -> Router<S> {
    let index = page.clone();
    router
        .route(
            &format!("/{app}"),
            get(move || async move { axum::response::Redirect::permanent(&format!("/{app}/")) }),
        )
        .route(
            &format!("/{app}/"),
            get(move || async move { serve(&format!("{app}/index.html"), &index) }),
        )
        .route(
            &format!("/{app}/{{*path}}"),
            get(move |Path(p): Path<String>| async move { serve(&format!("{app}/{p}"), &page) }),
        )
}

/// The embedded file at `path`; an HTML page gets `page`'s headers.
fn serve(path: &str, page: &PagePolicy) -> Response {
    let Some(file) = Widget::get(path) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let body = if path == WIDGET_SCRIPT {
        with_core(&file.data)
    } else {
        file.data
    };
    let mimetype = file.metadata.mimetype();
    let mut response = (
        [
            (header::CONTENT_TYPE, mimetype.to_owned()),
            (header::CACHE_CONTROL, "no-cache".to_owned()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
            (header::REFERRER_POLICY, "no-referrer".to_owned()),
        ],
        body,
    )
        .into_response();
    let headers = response.headers_mut();
    if mimetype.starts_with("text/html") {
        headers.insert(header::CONTENT_SECURITY_POLICY, page.csp.clone());
        if let Some(frame_options) = &page.frame_options {
            headers.insert(header::X_FRAME_OPTIONS, frame_options.clone());
        }
    } else if path.starts_with("widget/") {
        // Issuers' sites load the widget's script and stylesheet cross-site.
        headers.insert(
            header::HeaderName::from_static("cross-origin-resource-policy"),
            HeaderValue::from_static("cross-origin"),
        );
    }
    response
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

/// How `--frame-ancestors self` is kept: the CSP source expression.
pub const SELF_ANCESTOR: &str = "'self'";

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
        let response = serve(WIDGET_SCRIPT, &PagePolicy::framed_by(&[]));
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
        let response = serve(CORE_SCRIPT, &PagePolicy::framed_by(&[]));
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(body_of(response).await, core.to_vec());
    }
}
