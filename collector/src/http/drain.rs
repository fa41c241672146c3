//! Every refusal reaches the client: an answer sent before the request body
//! was read (401 before the body, 413 at the limit, 404, 429...) is followed
//! by reading and discarding what the client still sends, up to
//! [`DRAIN_LIMIT`] bytes or [`DRAIN_TIME`], before the answer goes out.
//!
//! Without it, the server closes (HTTP/1.1) or resets the stream (HTTP/2)
//! with unread data in flight, the peer's TCP stack answers with a reset,
//! and the client loses the status: an agent could not tell "too large"
//! from "collector down". A client that asked for `100-continue` and was
//! never told to send is not drained: it sends nothing.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderValue, Version, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt as _;

/// Most bytes read and discarded after an early answer.
pub const DRAIN_LIMIT: usize = 64 << 20;
/// Longest time spent doing so.
pub const DRAIN_TIME: Duration = Duration::from_secs(10);

/// A request body the handler dropped before its end.
struct Unread {
    body: Body,
    /// The handler had started reading it (so a `100-continue` client was
    /// told to send).
    polled: bool,
}

type Slot = Arc<Mutex<Option<Unread>>>;

/// The middleware (`axum::middleware::from_fn`).
pub async fn drain_unread_body(request: Request, next: Next) -> Response {
    let expects_continue = request
        .headers()
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let http1 = request.version() <= Version::HTTP_11;
    let slot: Slot = Arc::default();
    let (parts, body) = request.into_parts();
    let tracked = Tracked {
        inner: Some(body),
        polled: false,
        slot: slot.clone(),
    };
    let mut response = next
        .run(Request::from_parts(parts, Body::new(tracked)))
        .await;
    let unread = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(unread) = unread
        && (unread.polled || !expects_continue)
        && !drain(unread.body).await
        && http1
    {
        // More than we are willing to read: at least say the connection
        // ends with this answer.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Reads and discards `body` up to the limits; true when it ended.
async fn drain(mut body: Body) -> bool {
    let deadline = tokio::time::sleep(DRAIN_TIME);
    tokio::pin!(deadline);
    let mut read = 0usize;
    loop {
        tokio::select! {
            _ = &mut deadline => return false,
            frame = body.frame() => match frame {
                None => return true,
                Some(Ok(frame)) => {
                    read += frame.data_ref().map_or(0, Bytes::len);
                    if read > DRAIN_LIMIT {
                        return false;
                    }
                }
                Some(Err(_)) => return false,
            },
        }
    }
}

/// The request body as the handler sees it; hands itself back to the
/// middleware when dropped before its end.
struct Tracked {
    inner: Option<Body>,
    polled: bool,
    slot: Slot,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        self.polled = true;
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let poll = Pin::new(inner).poll_frame(cx);
        // Ended or broken: nothing left to drain.
        if matches!(poll, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            self.inner = None;
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if let Some(body) = self.inner.take()
            && !body.is_end_stream()
        {
            *self.slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(Unread {
                body,
                polled: self.polled,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::http::StatusCode;
    use axum::routing::post;
    use tower::ServiceExt as _;

    /// A body of `n` chunks that counts what was read of it.
    fn counted(n: usize, read: Arc<std::sync::atomic::AtomicUsize>) -> Body {
        let chunks = (0..n).map(move |_| {
            read.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok::<_, std::convert::Infallible>(Bytes::from(vec![b'x'; 1024]))
        });
        Body::from_stream(stream_of(chunks))
    }

    fn stream_of<I: Iterator + Unpin + Send + 'static>(
        iter: I,
    ) -> impl futures_core::Stream<Item = I::Item> + Send {
        struct S<I>(I);
        impl<I: Iterator + Unpin> futures_core::Stream for S<I> {
            type Item = I::Item;
            fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<I::Item>> {
                Poll::Ready(self.0.next())
            }
        }
        S(iter)
    }

    async fn refuse() -> StatusCode {
        StatusCode::UNAUTHORIZED
    }

    #[tokio::test]
    async fn an_unread_body_is_drained_before_the_answer() {
        let app = Router::new()
            .route("/", post(refuse))
            .layer(axum::middleware::from_fn(drain_unread_body));
        let read = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let answer = app
            .clone()
            .oneshot(Request::post("/").body(counted(100, read.clone())).unwrap())
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(read.load(std::sync::atomic::Ordering::SeqCst), 100);
        assert!(answer.headers().get(header::CONNECTION).is_none());
        // Waiting for 100-continue and never told to send: nothing is read.
        let read = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let answer = app
            .oneshot(
                Request::post("/")
                    .header(header::EXPECT, "100-continue")
                    .body(counted(100, read.clone()))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(read.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn past_the_limit_the_connection_is_closed_after_the_answer() {
        let app = Router::new()
            .route("/", post(refuse))
            .layer(axum::middleware::from_fn(drain_unread_body));
        let read = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let chunks = DRAIN_LIMIT / 1024 + 10;
        let answer = app
            .oneshot(
                Request::post("/")
                    .body(counted(chunks * 2, read.clone()))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(answer.headers()[header::CONNECTION], "close");
        assert!(read.load(std::sync::atomic::Ordering::SeqCst) <= chunks);
    }
}
