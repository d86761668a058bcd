//! Verified downloads against a throw-away HTTP server on 127.0.0.1 (never the internet).

mod common;
use common::Scratch;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;

use md5::{Digest, Md5};
use odenet::data::{self, DataError, DatasetKind};


/// Minimal HTTP/1.1 server: serves `files` by path, 404 otherwise; returns the base URL.
fn serve(files: HashMap<String, Vec<u8>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let line = String::from_utf8_lossy(&req)
                .lines()
                .next()
                .unwrap_or("")
                .to_string();
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let (status, body) = match files.get(&path) {
                Some(b) => ("200 OK", b.clone()),
                None => ("404 Not Found", b"not found".to_vec()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
        }
    });
    format!("http://{addr}")
}

fn md5_hex(b: &[u8]) -> String {
    Md5::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn fetch_good_and_bad_checksum() {
    let t = Scratch::new("dl");
    let body: Vec<u8> = (0..300_000u32).map(|i| (i * 31 % 256) as u8).collect();
    let base = serve(HashMap::from([("/f.bin".to_string(), body.clone())]));
    let url = format!("{base}/f.bin");

    let dest = t.0.join("sub/f.bin");
    data::fetch_verified(&url, &dest, &md5_hex(&body).to_uppercase()).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert!(!dest.with_extension("part").exists());

    let bad = t.0.join("bad.bin");
    let err = data::fetch_verified(&url, &bad, "00000000000000000000000000000000").unwrap_err();
    match &err {
        DataError::Checksum {
            expected,
            got,
            url: u,
        } => {
            assert_eq!(expected, "00000000000000000000000000000000");
            assert_eq!(got, &md5_hex(&body));
            assert_eq!(u, &url);
        }
        other => panic!("expected a checksum error, got {other}"),
    }
    assert!(
        !bad.exists() && !bad.with_extension("part").exists(),
        "nothing left behind"
    );

    let err = data::fetch_verified(&format!("{base}/missing"), &t.0.join("m"), "x").unwrap_err();
    assert!(matches!(err, DataError::Download { .. }), "{err}");
    assert!(err.to_string().contains("404"), "{err}");

    // file:// URLs work the same way.
    let copy = t.0.join("copy.bin");
    data::fetch_verified(
        &format!("file://{}", dest.display()),
        &copy,
        &md5_hex(&body),
    )
    .unwrap();
    assert_eq!(std::fs::read(&copy).unwrap(), body);
}

#[test]
fn download_uses_mirror_and_verifies_official_checksums() {
    let t = Scratch::new("dlmirror");
    let files = [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ];
    let base = serve(
        files
            .iter()
            .map(|f| (format!("/fm/{f}"), b"fake".to_vec()))
            .collect(),
    );
    // Fake content cannot match Zalando's published MD5: the download is rejected.
    let err = data::download_from(
        DatasetKind::FashionMnist,
        &t.0,
        Some(&format!("{base}/fm/")),
    )
    .unwrap_err();
    assert!(
        matches!(&err, DataError::Checksum { url, .. } if url.ends_with("/fm/train-images-idx3-ubyte.gz")),
        "{err}"
    );
    assert!(
        !t.0.join("fashion-mnist/train-images-idx3-ubyte.gz")
            .exists()
    );
    let err = data::download_from(DatasetKind::Folder, &t.0, None).unwrap_err();
    assert!(matches!(err, DataError::Config(_)), "{err}");
}
