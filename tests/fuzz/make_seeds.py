#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/) from the golden
files, the shipped configuration, mappings and policies, and small hand-made inputs of the
kinds each parser meets: valid, truncated, with the traps of the issue (duplicate keys, free
text reasons, unescaped PING Data, BOM and CRLF, quoted line breaks). Values that stand for case
data carry the sentinel S3NT1NEL, which no error message may repeat. Run from anywhere:

    python3 tests/fuzz/make_seeds.py

It replaces the corpora it writes; inputs kept in regressions/ are left alone."""
import base64
import glob
import hashlib
import hmac
import os
import random
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
S = "S3NT1NEL"


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read(path):
    with open(os.path.join(ROOT, path), "rb") as f:
        return f.read()


def sentinelled(text):
    # Case values (names, reasons, places) carry the sentinel; keys stay as they are.
    for v in ("Rafiq", "Rahim", "Begum", "Hossain", "Tracing requested", "Ali"):
        text = text.replace(b'"' + v.encode(), b'"' + S.encode() + v.encode())
    return text


def reset(target):
    shutil.rmtree(os.path.join(HERE, "corpus", target), ignore_errors=True)


for t in ("json", "csv", "dss_ack", "dss_files", "ping_status", "config", "mapping", "record",
          "policy", "decision", "hub_api", "log_verify", "caseload_review", "hub_review",
          "admin_api"):
    reset(t)

golden_inputs = sorted(glob.glob(os.path.join(ROOT, "tests/golden/*/*.input.json")))
golden_expected = sorted(glob.glob(os.path.join(ROOT, "tests/golden/*/in-*.expected.json")))

# json: bodies and files, valid and not.
for p in golden_inputs[:8]:
    put("json", "golden-" + os.path.basename(os.path.dirname(p)) + "-" + os.path.basename(p),
        sentinelled(open(p, "rb").read()))
put("json", "comments.jsonc", '// a file\n{"a": [1, 2, /* two */ 3,], "b": {"c": null},}\n')
put("json", "duplicate-key.json", '{"name": "%s", "name": "x"}' % S)
put("json", "deep.json", "[" * 20 + "]" * 20)
put("json", "truncated.json", '{"data": [{"id": "%s", "age": 1' % S)
put("json", "numbers.json", '[0, -0, 1e308, -1.5e-300, 12345678901234567890, 0.1, 3]')
put("json", "strings.json", '["\\u00e9\\ud83d\\ude00", "\\"", "মোছাঃ %s", ""]' % S)
put("json", "bom.json", b'\xef\xbb\xbf{"a": 1}')
put("json", "bad-utf8.json", b'{"name": "\xc3\x28%s"}' % S.encode())

# csv: DSS files, dictionaries, review files.
dss_case_header = ("dss_reference,updated_at,child_name,sex,date_of_birth,consent_for_services,"
                   "consent_sharing,event_id,event_type,event_time,service_code,referral_reason,"
                   "referring_agency\r\n")
dss_case = (dss_case_header +
            'DSS-1,2024-06-03 10:05:00,%s Rina,F,15/09/2012,yes,authorities,DSS-1098-1,referral,'
            '2024-06-03 10:05,PSS,"Says ""not safe"", at home,\r\nneeds %s",cxb-dss\r\n' % (S, S) +
            'DSS-2,2024-06-04T09:00:00+06:00,মোছাঃ %s,M,2012-01-01,no,none,DSS-1098-2,referral,'
            '2024-06-04 09:00,CM,Tracing,cxb-dss\r\n' % S)
put("csv", "dss-case.csv", b"\xef\xbb\xbf" + dss_case.encode())
put("csv", "dictionary.csv", read("mappings/dictionaries/dss.case.csv"))
put("csv", "lf-only.csv", "a,b\n1,2\n\"x\ny\",\" %s \"\n" % S)
put("csv", "ragged.csv", "a,b\r\n1\r\n")
put("csv", "bad-quote.csv", 'a,b\r\n"1,2\r\n')
put("csv", "blank-line.csv", "a\r\n\r\nx\r\n")

# dss_ack
ack_rows = [("0b5e8c1a-1111-4a2b-9c3d-000000000001", "accepted", "DSS/1", ""),
            ("0b5e8c1a-1111-4a2b-9c3d-000000000002", "rejected", "", "missing_consent"),
            ("0b5e8c1a-1111-4a2b-9c3d-000000000003", "error", "",
             "Child %s says, \"not at home\"" % S)]


def ack_text(rows, header="exchange_id,status,dss_reference,reason"):
    out = header + "\r\n"
    for r in rows:
        out += ",".join('"' + f.replace('"', '""') + '"' if any(c in f for c in ',"\r\n') else f
                        for f in r) + "\r\n"
    return out


put("dss_ack", "ack-ok.csv", b"\xef\xbb\xbf" + ack_text(ack_rows).encode())
put("dss_ack", "ack-reordered.csv", ack_text([(r[3], r[0], r[1], r[2]) for r in ack_rows],
                                             "reason,exchange_id,status,dss_reference"))
put("dss_ack", "ack-twice.csv", ack_text([ack_rows[0], ack_rows[0]]))
put("dss_ack", "ack-bad-status.csv", ack_text([(ack_rows[0][0], "maybe %s" % S, "", "")]))
put("dss_ack", "ack-bad-id.csv", ack_text([("not-a-uuid-%s" % S, "accepted", "", "")]))

# dss_files: the same texts as case and acknowledgement files.
put("dss_files", "case.csv", b"\xef\xbb\xbf" + dss_case.encode())
put("dss_files", "ack.csv", ack_text(ack_rows))
put("dss_files", "case-short.csv", "dss_reference\r\nDSS-3\r\n")
put("dss_files", "case-bad-date.csv", "child_name,dss_reference,updated_at\r\n%s,DSS-3,03/06/2024\r\n" % S)

# ping_status
put("ping_status", "unescaped.txt",
    '[{"ExternalId":"b7e2d9a4","Status":"Success","Message":"Record created.",'
    '"Data":"{"progres_interoperabilityreferralid":"2785b477-767d-4814-949a-be8e0990bcc8",'
    '"progres_interoperabilityreferralnumber":"REF-IOP-CXB-000000001"}","ProcessedOn":"x"},'
    '{"ExternalId":"c1","Status":"Failed","Message":"Field a is not defined.","Data":null}]')
put("ping_status", "braces.txt",
    '{"ExternalId":"e","Status":"Completed","Data":"{"note":"a } \\" , b","list":[1,{"x":"}\\""}],"n":null}"}')
put("ping_status", "escaped.txt", '[{"externalid":"e","status":"InProgress","data":"{\\"id\\":\\"g\\"}"}]')
put("ping_status", "plain.txt", '[{"ExternalId":"e","Status":"Queued","Data":"queued"}]')
put("ping_status", "list-data.txt", '[{"ExternalId":"e","Status":"Error","Data":"[{"a":1}]"}]')

# config, mapping, policy: the shipped files.
put("config", "example.jsonc", read("config/casebridge.example.jsonc"))
for p in sorted(glob.glob(os.path.join(ROOT, "mappings/*.json"))):
    if not p.endswith("canonical-case.json"):
        put("mapping", os.path.basename(p), open(p, "rb").read())
put("policy", "policies.json", read("config/policies.json"))

# record and decision: records as systems send them and as the canonical record.
for p in golden_inputs:
    put("record", os.path.basename(os.path.dirname(p)) + "-" + os.path.basename(p),
        sentinelled(open(p, "rb").read()))
for p in golden_expected + [x for x in golden_inputs if "/out-" in x.replace(os.sep, "/")]:
    put("decision", os.path.basename(os.path.dirname(p)) + "-" + os.path.basename(p),
        sentinelled(open(p, "rb").read()))

# hub_api: requests as agencies send them.
TOKEN_A = "fuzz-token-agency-a-0123456789abcdef"
TOKEN_B = "fuzz-token-agency-b-0123456789abcdef"


def request(method, target, token, body=""):
    head = "%s %s HTTP/1.1\r\nHost: hub\r\n" % (method, target)
    if token:
        head += "Authorization: Bearer %s\r\n" % token
    if body:
        head += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body.encode())
    return head + "\r\n" + body


rng = random.Random(7)
words = 32  # linkage schema v2: 4096 bits folded to 2048 = 32 words
filt = base64.b64encode(bytes(rng.getrandbits(8) for _ in range(words * 8))).decode()
records = ('{"linkage_schema_version": 3, "records": [{"pseudonym": "case-%s-1", "filter": "%s", '
           '"tokens": [{"kind": 0, "value": "0123456789abcdef"}], '
           '"coarse": {"sex": "female", "age_band": "10-14"}}]}' % (S, filt))
put("hub_api", "schema.http", request("GET", "/hub/v1/schema", TOKEN_A))
put("hub_api", "records.http", request("POST", "/hub/v1/records", TOKEN_A, records))
put("hub_api", "records-b.http", request("POST", "/hub/v1/records", TOKEN_B, records))
put("hub_api", "withdrawals.http", request(
    "POST", "/hub/v1/withdrawals", TOKEN_A,
    '{"pseudonyms": ["case-%s-1", "case-2"], "reason": "consent_withdrawn"}' % S))
put("hub_api", "notices.http", request("GET", "/hub/v1/notices?after=0&limit=10", TOKEN_A))
put("hub_api", "no-token.http", request("GET", "/hub/v1/notices", ""))
put("hub_api", "bad-body.http", request("POST", "/hub/v1/records", TOKEN_A, '{"records": [{"pseudonym": "%s"' % S))

# admin_api: every route, with the token.
ADMIN = "fuzz-admin-token-0123456789abcdef"
for i, (m, t) in enumerate([("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"),
                            ("GET", "/flows"), ("POST", "/flows/cpims-referrals-to-unhcr/pause"),
                            ("POST", "/flows/cpims-referrals-to-unhcr/run"),
                            ("GET", "/transfers?flow=cpims-referrals-to-unhcr&limit=5&since=2025-03-01T08:00:00%2B06:00"),
                            ("GET", "/dead-letters"), ("POST", "/dead-letters/7/retry"),
                            ("GET", "/reviews"), ("GET", "/reports"), ("GET", "/%66lows"),
                            ("POST", "/flows/cpims-referrals-to-unhcr/dry-run"),
                            ("GET", "/activity?days=14"), ("POST", "/log/verify"),
                            ("GET", "/transfers?record=case-1&to=progres&outcome=sent&reason=no_basis&order=newest"),
                            ("GET", "/console/"), ("GET", "/console/console.js"),
                            ("GET", "/console/no-such-file")]):
    put("admin_api", "route-%02d.http" % i, request(m, t, ADMIN, "{}" if m == "POST" else ""))
put("admin_api", "no-token.http", request("GET", "/flows", ""))
put("admin_api", "console-without-token.http", request("GET", "/console/index.html", ""))
# A review decision with its reason (a sentinel: no answer may hold it) and actor.
put("admin_api", "decide.http", request(
    "POST", "/reviews/1/decide", ADMIN,
    '{"decision": "resolved", "reason": "told %s by phone", "actor": "imo-1"}' % S))
put("admin_api", "decide-no-reason.http", request(
    "POST", "/reviews/1/decide", ADMIN, '{"decision": "dismissed"}'))
# Caseload hand-over routes: a review file whose override reason is a sentinel (no answer
# may hold it), a status, a plan.
REVIEW = ("source_id,decision,reason,basis,receiving_system,fields_sent,confirm,override_reason,check\r\n"
          "case-1,needs_consent_confirmation,no_basis,,progres,4,yes,told %s at the visit,0123456789abcdef0123456789abcdef\r\n"
          "case-2,transfer,,consent,progres,5,yes,,fedcba9876543210fedcba9876543210\r\n" % S)
put("admin_api", "caseload-check.http", request(
    "POST", "/flows/cpims-referrals-to-unhcr/caseload/check?file=end-review.csv", ADMIN, REVIEW))
put("admin_api", "caseload-execute.http", request(
    "POST", "/flows/cpims-referrals-to-unhcr/caseload/execute?actor=imo-1", ADMIN, REVIEW))
put("admin_api", "caseload-status.http", request(
    "GET", "/flows/cpims-referrals-to-unhcr/caseload", ADMIN, ""))
put("admin_api", "caseload-plan.http", request(
    "POST", "/flows/cpims-referrals-to-unhcr/caseload/plan", ADMIN, ""))

# log_verify: patches [u16 offset][u8 page][u8 length][bytes].
for seed in range(6):
    r = random.Random(seed)
    out = b""
    for _ in range(r.randint(1, 3)):
        n = r.randint(1, 8)
        out += bytes([r.getrandbits(8), r.getrandbits(8), r.getrandbits(8), n])
        out += bytes(r.getrandbits(8) | 1 for _ in range(n))
    put("log_verify", "patch-%d.bin" % seed, out)

# caseload_review: rows bound to the fuzz target's fixed key.
ID_KEY = b"fuzz-identifier-key-0123456789abcdef"


def caseload_check(flow, sid, decision, reason):
    msg = b"caseload-review/v2\x00" + ("%s\n%s\n%s\n%s" % (flow, sid, decision, reason)).encode()
    return hmac.new(ID_KEY, msg, hashlib.sha256).hexdigest()[:32]


# A plan written before the reason was bound: still read, its reason column not trusted.
def caseload_check_v1(flow, sid, decision):
    msg = b"caseload-review\x00" + ("%s\n%s\n%s" % (flow, sid, decision)).encode()
    return hmac.new(ID_KEY, msg, hashlib.sha256).hexdigest()[:32]


CL_HEADER = "source_id,decision,reason,basis,receiving_system,fields_sent,confirm,override_reason,check"


def caseload(rows, v1=False):
    out = CL_HEADER + "\r\n"
    for sid, decision, reason, confirm, override in rows:
        check = (caseload_check_v1("handover", sid, decision) if v1
                 else caseload_check("handover", sid, decision, reason))
        f = [sid, decision, reason, "consent", "cpims-b", "sex;age", confirm, override, check]
        out += ",".join('"' + x.replace('"', '""') + '"' if any(c in x for c in ',"\r\n ') else x
                        for x in f) + "\r\n"
    return out


put("caseload_review", "review.csv", b"\xef\xbb\xbf" + caseload([
    ("case-1", "transfer", "", "yes", ""),
    ("case-2", "needs_consent_confirmation", "no_basis", "yes", "Caregiver %s agreed, by phone" % S),
    ("case-3", "needs_consent_confirmation", "no_basis", "no", ""),
    ("case-4", "already_transferred", "", "", ""),
    ("case-5", "withheld", "consent_withdrawn", "", "")]).encode())
put("caseload_review", "review-edited.csv", caseload([("case-1", "transfer", "", "maybe", "")])
    .replace("case-1,", "case-9,"))
put("caseload_review", "review-v1-reason-written.csv", caseload([
    ("case-1", "transfer", "", "yes", ""),
    ("case-3", "needs_consent_confirmation", "Caregiver %s not reached" % S, "no", "")], v1=True))
put("caseload_review", "review-twice.csv", caseload([("case-1", "transfer", "", "yes", "")] * 2))

# hub_review: rows bound to the fuzz target's fixed review key.
HUB_KEY = b"fuzz-hub-review-key-0123456789abcdef"
HR_HEADER = "review_id,agency_a,pseudonym_a,agency_b,pseudonym_b,score,decision,check"


def hub_rows(rows):
    out = HR_HEADER + "\r\n"
    for r in rows:
        text = ("hub-review\n" + "\n".join(r[:6])).encode()
        check = hmac.new(HUB_KEY, text, hashlib.sha256).hexdigest()[:32]
        out += ",".join(list(r) + [check]) + "\r\n"
    return out


put("hub_review", "review.csv", hub_rows([
    ("1", "save-bd", "case-%s-a" % S, "unhcr-cxb", "case-%s-b" % S, "0.812", "same"),
    ("2", "save-bd", "case-c", "unhcr-cxb", "case-d", "0.640", "not_same"),
    ("3", "save-bd", "case-e", "brac", "case-f", "0.701", "")]))
put("hub_review", "review-bad-decision.csv", hub_rows([
    ("1", "save-bd", "case-a", "unhcr-cxb", "case-b", "0.812", "probably %s" % S)]))
print("seeds written under", os.path.join(HERE, "corpus"))
