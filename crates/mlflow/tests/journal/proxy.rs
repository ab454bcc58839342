//! A proxy on 127.0.0.1 in front of the real MLflow server, whose failure is switched on and
//! off mid-run: it forwards each request (one per connection), answers 503 (with `Retry-After`,
//! so the client's backoff is known), answers 400, or accepts and never answers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

/// What the proxy does with the next requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    Forward,
    /// 503 with `Retry-After: 2`.
    Unavailable,
    /// 400 `INVALID_PARAMETER_VALUE`.
    Refuse,
    /// Accepts and holds the connection, silent.
    Silent,
}

/// The `Retry-After` of [`Mode::Unavailable`], in seconds.
pub const RETRY_AFTER_SECS: u64 = 2;

pub struct Proxy {
    pub uri: String,
    mode: Arc<AtomicU8>,
}

impl Proxy {
    /// Forwards to `upstream` (`http://host:port`) until told otherwise.
    pub fn start(upstream: &str) -> Proxy {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let uri = format!("http://{}", listener.local_addr().expect("addr"));
        let mode = Arc::new(AtomicU8::new(Mode::Forward as u8));
        let switch = Arc::clone(&mode);
        let held = Arc::new(Mutex::new(Vec::new()));
        // The threads end with the test process; they serve only this test's clients.
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (upstream, mode, held) =
                    (upstream.clone(), Arc::clone(&switch), Arc::clone(&held));
                thread::spawn(move || serve(stream, &upstream, &mode, &held));
            }
        });
        Proxy { uri, mode }
    }

    pub fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }
}

fn serve(stream: TcpStream, upstream: &str, mode: &AtomicU8, held: &Mutex<Vec<TcpStream>>) {
    let Some(request) = read_request(&stream) else {
        return;
    };
    let mode = mode.load(Ordering::SeqCst);
    if mode == Mode::Forward as u8 {
        forward(stream, upstream, &request);
    } else if mode == Mode::Unavailable as u8 {
        let headers = format!("Retry-After: {RETRY_AFTER_SECS}\r\n");
        answer(
            stream,
            503,
            &headers,
            r#"{"error_code": "TEMPORARILY_UNAVAILABLE"}"#,
        );
    } else if mode == Mode::Refuse as u8 {
        let body = r#"{"error_code": "INVALID_PARAMETER_VALUE", "message": "refused by the test"}"#;
        answer(stream, 400, "", body);
    } else {
        held.lock().expect("lock").push(stream);
    }
}

/// A request's head (request line and headers, `Host` and `Connection` left out) and body.
struct Request {
    head: String,
    body: Vec<u8>,
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut head = String::new();
    reader.read_line(&mut head).ok()?;
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        if header.trim_end().is_empty() {
            break;
        }
        let name = header
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if name == "content-length" {
            length = header.split(':').nth(1)?.trim().parse().ok()?;
        }
        if name != "host" && name != "connection" {
            head.push_str(&header);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request { head, body })
}

fn forward(mut client: TcpStream, upstream: &str, request: &Request) {
    let Ok(mut server) = TcpStream::connect(upstream) else {
        return;
    };
    let head = format!(
        "{}Host: {upstream}\r\nConnection: close\r\n\r\n",
        request.head
    );
    let mut response = Vec::new();
    let sent = server
        .write_all(head.as_bytes())
        .and_then(|()| server.write_all(&request.body))
        .and_then(|()| server.read_to_end(&mut response));
    if sent.is_ok() {
        // One request per connection: the client must not reuse it.
        let response = insert_after_status_line(&response, b"Connection: close\r\n");
        let _ = client.write_all(&response).and_then(|()| client.flush());
    }
}

fn insert_after_status_line(response: &[u8], header: &[u8]) -> Vec<u8> {
    let line_end = response
        .windows(2)
        .position(|w| w == b"\r\n")
        .map_or(response.len(), |i| i + 2);
    [&response[..line_end], header, &response[line_end..]].concat()
}

fn answer(mut stream: TcpStream, status: u16, headers: &str, body: &str) {
    let response = format!(
        "HTTP/1.1 {status} Scripted\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n{headers}\r\n{body}",
        body.len()
    );
    let _ = stream
        .write_all(response.as_bytes())
        .and_then(|()| stream.flush());
}
