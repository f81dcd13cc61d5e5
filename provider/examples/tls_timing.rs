fn main() {
    let t = std::time::Instant::now();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    eprintln!("keygen p256: {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let key2 = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    eprintln!("keygen p256 again: {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    eprintln!("self-sign: {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let _ = terraform_provider_app::plugin::tls::auto_mtls(&cert.pem()).map(|_| ());
    eprintln!("auto_mtls: {:?}", t.elapsed());
    let _ = key2;
}
