//! The service recipe: systemd's own checker accepts the unit in deploy/
//! (pointed at this build's binary), and the unit keeps its hardening.

use std::process::Command;

#[test]
fn the_systemd_unit_verifies() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let unit = std::fs::read_to_string(root.join("deploy/rounds.service")).unwrap();
    for setting in [
        "DynamicUser=yes",
        "StateDirectory=rounds",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "UMask=0077",
    ] {
        assert!(unit.contains(setting), "the unit keeps {setting}");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rounds.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/rounds", env!("CARGO_BIN_EXE_rounds")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze (Debian's systemd package; scripts/test.sh installs it)");
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{said}");
    assert!(!said.contains("Unknown key"), "{said}");
}
