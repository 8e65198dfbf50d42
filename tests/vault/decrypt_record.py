#!/usr/bin/python3
"""An independent reading of the vault's formats, for tests/unit/vault/cross_check_test.cpp.

Written from README.md's section "Credential records at rest" alone, with Debian's
python3-cryptography instead of the daemon's code, so that a format the daemon writes and reads
back consistently but differently from its documentation is caught.

  decrypt_record.py record --master-key FILE --user U --credential C --column COL --record FILE
      prints the record's plaintext, hex-encoded
  decrypt_record.py audit-mac --master-key FILE --entry ENTRY.json [--previous-mac HEX]
      prints the entry's MAC, hex-encoded (ENTRY.json: seq, at_ms, actor, source, action, target,
      outcome, details, key_version)
"""
import argparse
import json
import struct
import sys

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def field(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def text(value: str) -> bytes:
    return field(value.encode())


def u32(value: int) -> bytes:
    return field(struct.pack(">I", value))


def i64(value: int) -> bytes:
    return field(struct.pack(">q", value))


def read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def decrypt_record(master_key: bytes, user: str, credential: str, column: str, record: bytes) -> bytes:
    if len(record) < 1 + 4 + 60 + 28 or record[0] != 0x01:
        sys.exit("not a format 1 record")
    (key_version,) = struct.unpack(">I", record[1:5])
    wrapped, data = record[5:65], record[65:]
    wrap_ad = (text("ibkr-sessiond credential key") + u32(1) + u32(key_version)
               + text(user) + text(credential) + text(column))
    data_key = AESGCM(master_key).decrypt(wrapped[:12], wrapped[12:], wrap_ad)
    data_ad = text("ibkr-sessiond credential data") + u32(1) + text(user) + text(credential) + text(column)
    return AESGCM(data_key).decrypt(data[:12], data[12:], data_ad)


def audit_mac(master_key: bytes, entry: dict, previous: bytes) -> bytes:
    audit_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"ibkr-sessiond audit",
                     info=b"audit chain v1").derive(master_key)
    canonical = (text("ibkr-sessiond audit v1") + i64(entry["seq"]) + i64(entry["at_ms"])
                 + b"".join(text(entry[name]) for name in
                            ("actor", "source", "action", "target", "outcome", "details"))
                 + u32(entry["key_version"]))
    mac = hmac.HMAC(audit_key, hashes.SHA256())
    mac.update(previous + canonical)
    return mac.finalize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    record = commands.add_parser("record")
    record.add_argument("--master-key", required=True)
    record.add_argument("--user", required=True)
    record.add_argument("--credential", required=True)
    record.add_argument("--column", required=True)
    record.add_argument("--record", required=True)
    audit = commands.add_parser("audit-mac")
    audit.add_argument("--master-key", required=True)
    audit.add_argument("--entry", required=True)
    audit.add_argument("--previous-mac", default="00" * 32)
    args = parser.parse_args()

    master_key = read(args.master_key)
    if len(master_key) != 32:
        sys.exit("a master key is 32 bytes")
    if args.command == "record":
        print(decrypt_record(master_key, args.user, args.credential, args.column, read(args.record)).hex())
    else:
        with open(args.entry, encoding="utf-8") as f:
            entry = json.load(f)
        print(audit_mac(master_key, entry, bytes.fromhex(args.previous_mac)).hex())


if __name__ == "__main__":
    main()
