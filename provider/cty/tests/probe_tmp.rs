use app_cty::*;
fn depth_probe(n: usize) {
    let mut deep = vec![0x91u8; n];
    deep.push(0xc0);
    let mut ty = Type::String;
    for _ in 0..n { ty = Type::List(Box::new(ty)); }
    let _ = msgpack::decode(&deep, &ty);
}
#[test]
fn probe() {
    for n in [1usize, 5, 10, 20, 50] {
        let h = std::thread::Builder::new().stack_size(1 << 20).spawn(move || depth_probe(n)).unwrap();
        let ok = h.join().is_ok();
        eprintln!("{n} {ok}");
    }
}
#[inline(never)]
fn sp() -> usize { let x = 0u8; &x as *const u8 as usize }
#[test]
fn frame() {
    // measure the stack used by one nesting level via a custom type walk is hard; just probe bigger
    for n in [60usize, 70, 80, 90] {
        let h = std::thread::Builder::new().stack_size(1 << 20).spawn(move || depth_probe(n)).unwrap();
        let ok = h.join().is_ok();
        eprintln!("{n} {ok}");
    }
    let _ = sp();
}
