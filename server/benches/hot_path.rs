//! The pure parts of the message path, so a regression shows without a
//! load test: parsing a client frame, cleaning and masking a typed text,
//! reading the events a node receives from Redis, and rendering an event
//! into the bytes every recipient is sent.
//!
//! `cargo bench -p switchboard --bench hot_path`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use switchboard::domain::conversation::Entry;
use switchboard::domain::{Author, ConversationId};
use switchboard::events::{Event, View};
use switchboard::hub::typed_text;
use switchboard::masking::mask_sensitive;
use switchboard::protocol::ClientFrame;
use switchboard::store::redis::read_published;

const SAY: &str = r#"{"type":"say","conversation":"c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8b","id":"m-7f3a","text":"Hi, my card was declined at the supermarket this morning, can you check?"}"#;
const PLAIN: &str = "Hi, my card was declined at the supermarket this morning, can you check?";
const WITH_DIGITS: &str = "It's the one ending 4242, the charge was 12.50 on the 3rd of May";
const WITH_CARD: &str = "My card is 4111 1111 1111 1111, expiry 12/29";

fn parse(c: &mut Criterion) {
    c.bench_function("parse say frame", |b| {
        b.iter(|| ClientFrame::parse(black_box(SAY)))
    });
}

fn masking(c: &mut Criterion) {
    let mut g = c.benchmark_group("mask");
    for (name, text) in [
        ("no digits", PLAIN),
        ("digits, nothing to mask", WITH_DIGITS),
        ("card number", WITH_CARD),
    ] {
        g.bench_function(name, |b| b.iter(|| mask_sensitive(black_box(text))));
    }
    g.finish();
    c.bench_function("typed_text (clean, check, mask)", |b| {
        b.iter(|| typed_text(black_box(PLAIN).to_owned()))
    });
}

fn render(c: &mut Criterion) {
    let event = Event::Msg {
        conversation: ConversationId::from("c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8b"),
        entry: Entry {
            seq: 42,
            from: Author::Cardholder,
            text: PLAIN.to_owned(),
            at: "2025-05-12T09:31:10.204Z".to_owned(),
            id: Some("m-7f3a".to_owned()),
        },
    };
    c.bench_function("render msg event", |b| {
        b.iter(|| {
            black_box(&event)
                .frame_for(View::Cardholder)
                .map(|f| f.to_text())
        })
    });
}

fn read_events(c: &mut Criterion) {
    // What one step of 8 appends publishes to a node, as the scripts build it.
    // `to US at US conversation=… US entry#seq:… US payload`, RS between.
    let one = |seq: u32| {
        format!(
            "c:ann,a:bob\x1f1747041070204\x1fconversation=c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8b\x1fentry#{seq}:{{\"from\":\"cardholder\",\"text\":\"{PLAIN}\",\"at\":\"2025-05-12T09:31:10.204Z\",\"id\":\"m-7f3a\"}}\x1f{{\"k\":\"msg\"}}"
        )
    };
    let batch = (1..=8).map(one).collect::<Vec<_>>().join("\x1e");
    c.bench_function("read 8 published msg events", |b| {
        b.iter(|| read_published(black_box(batch.as_bytes())))
    });
}

criterion_group!(hot_path, parse, masking, read_events, render);
criterion_main!(hot_path);
