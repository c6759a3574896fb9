#include "cli/cli.hpp"

#include <algorithm>
#include <new>
#include <ostream>
#include <sstream>

#include "cli/commands.hpp"
#include "json/json.hpp"

namespace casebridge::cli {

const std::vector<command_spec>& commands() {
    static const std::vector<command_spec> table = {
        {
            .name = "version",
            .summary = "print the version of casebridge and of the libraries it was built with",
            .usage = "[--json]",
            .description =
                "Prints casebridge's version, then the versions of Boost, OpenSSL, SQLite and\n"
                "RapidJSON: the ones it was compiled against and, for OpenSSL and SQLite, the\n"
                "ones loaded at run time.",
            .options = {{"json", "", "print one JSON object instead of text"}},
            .run = run_version,
        },
        {
            .name = "check",
            .summary = "validate a configuration and everything it references, offline",
            .usage = "--config FILE",
            .description =
                "Loads the configuration as the daemon does and checks, without network\n"
                "traffic: the schema; that flows name existing systems and DPISP profiles of the\n"
                "same purpose; that each system's adapter settings pass the adapter's own checks\n"
                "(a password for basic auth, one token source, distinct folders) and that every\n"
                "URL in them parses, plain http only to a loopback host where the system allows\n"
                "it; that the catalogue and policies load; that mapping files exist;\n"
                "that every secret file exists and is readable by its owner only, and every\n"
                "secret environment variable is set; that the store's signing key is an Ed25519\n"
                "private key (PEM) and its identifier key at least 32 bytes; that the store's\n"
                "folder is writable.\n"
                "Errors name file:line:column and the JSON Pointer (exit 1).",
            .options = {{"config", "FILE", "the configuration file", true}},
            .run = run_check,
        },
        {
            .name = "policy check",
            .summary = "validate a DPISP policies file and list its profiles with their hashes",
            .usage = "--policies FILE [--catalogue FILE]",
            .description =
                "Loads the policies file as the daemon does: schema, canonical field names,\n"
                "contradictory rules, free text without a review note, key references (the\n"
                "keys themselves must be readable). Prints each profile's id, version, purpose,\n"
                "recipient and content hash. Errors name file:line:column and the JSON Pointer.",
            .options =
                {{"policies", "FILE", "the policies file (e.g. config/policies.json)", true},
                 {"catalogue",
                  "FILE",
                  "canonical catalogue (default mappings/canonical-case.json)"}},
            .run = run_policy_check,
        },
        {
            .name = "policy explain",
            .summary = "show the DPISP decision for one canonical record under one profile",
            .usage =
                "--policies FILE --profile ID [--input FILE] [--catalogue FILE] [--as-of DATE] "
                "[--actor NAME --override-reason TEXT]",
            .description =
                "Reads one canonical case (JSON, from --input or stdin) and prints the decision\n"
                "as JSON: decision (share/withhold), basis, reason, the consent values it read,\n"
                "fields_sent, fields_withheld with the rule for each, pseudonymised and\n"
                "generalised fields, the profile id, version and hash, and the redacted payload.\n"
                "Exit 0 for either decision; 1 for a bad policies file or record.",
            .options =
                {{"policies", "FILE", "the policies file", true},
                 {"profile", "ID", "the profile to apply", true},
                 {"input", "FILE", "the canonical record (default: stdin)"},
                 {"catalogue",
                  "FILE",
                  "canonical catalogue (default mappings/canonical-case.json)"},
                 {"as-of", "DATE", "date for age bands, YYYY-MM-DD (default: today, UTC)"},
                 {"actor", "NAME", "operator who overrides a missing basis"},
                 {"override-reason", "TEXT", "written reason for the override"}},
            .run = run_policy_explain,
        },
        {
            .name = "log verify",
            .summary = "verify the transfer log's hash chain and signed checkpoints",
            .usage = "--store FILE [--public-key FILE] [--checkpoint FILE]",
            .description =
                "Recomputes every entry's hash from its content and the entry before it, checks\n"
                "each stored checkpoint's head hash and Ed25519 signature, and that no cursor\n"
                "points past the last entry. --public-key pins the signing key (otherwise the\n"
                "keys recorded in the store are used); --checkpoint compares the store with a\n"
                "checkpoint held elsewhere (the witness file), which also shows a truncated\n"
                "tail or a chain rewritten with the key. Prints the number of entries and\n"
                "checkpoints verified, or the first bad entry and what is wrong (exit 1).",
            .options =
                {{"store", "FILE", "the store file", true},
                 {"public-key", "FILE", "Ed25519 public key (PEM) that must have signed"},
                 {"checkpoint", "FILE", "a checkpoint file kept outside the store"}},
            .run = run_log_verify,
        },
        {
            .name = "log export",
            .summary = "export transfer log entries for auditors as CSV or JSON",
            .usage = "--store FILE [--since T] [--until T] [--format csv|json]",
            .description =
                "Writes the entries logged in [--since, --until) (RFC 3339 times) to stdout,\n"
                "one per row or object, with every column and its entry hash. Entries hold ids,\n"
                "codes, field names and hashes only, never a field value.",
            .options =
                {{"store", "FILE", "the store file", true},
                 {"since", "T", "first time included (RFC 3339)"},
                 {"until", "T", "first time excluded (RFC 3339)"},
                 {"format", "FORMAT", "csv or json (default json)"}},
            .run = run_log_export,
        },
        {
            .name = "log show",
            .summary = "show the sharing history of one record across flows",
            .usage = "--store FILE --record SYSTEM:ID",
            .description =
                "Lists every transfer log entry naming the record as source or target: when,\n"
                "flow, purpose, outcome, the other side, legitimate basis and field names.",
            .options =
                {{"store", "FILE", "the store file", true},
                 {"record", "SYSTEM:ID", "the record, e.g. primero:3f1c9a0e-...", true}},
            .run = run_log_show,
        },
        {
            .name = "log public-key",
            .summary = "print the public key of a checkpoint signing key",
            .usage = "--signing-key FILE",
            .description =
                "Reads an Ed25519 private key (PEM, e.g. from 'openssl genpkey -algorithm\n"
                "ed25519') and prints its public key (PEM) for 'log verify --public-key'.",
            .options = {{"signing-key", "FILE", "Ed25519 private key (PEM)", true}},
            .run = run_log_public_key,
        },
        {
            .name = "store purge",
            .summary = "remove links and deliveries of records closed past the retention period",
            .usage = "--config FILE | --store FILE --retention-days N [--actor ID]",
            .description =
                "Deletes (with secure_delete) the links and deliveries of records closed more\n"
                "than N days ago, truncates the WAL, and appends a chained transfer log entry\n"
                "of kind retention_purge with the number of links and deliveries removed.\n"
                "With --config, the store and the period are the configuration's store.path and\n"
                "store.retention_days (the daemon purges the same way on its own schedule).",
            .options =
                {{"config", "FILE", "the configuration file (store.path, store.retention_days)"},
                 {"store", "FILE", "the store file (without --config)"},
                 {"retention-days", "N", "retention period in days, 0 to 36500 (without --config)"},
                 {"actor", "ID", "who runs the purge (default casebridge)"}},
            .run = run_store_purge,
        },
        {
            .name = "mapping check",
            .summary = "validate mapping files against their schema and the canonical vocabulary",
            .usage = "[--canonical FILE] FILE...",
            .description =
                "Loads the canonical case vocabulary, then loads and compiles each mapping\n"
                "file: JSON syntax, mappings/schema/mapping.schema.json, canonical field names,\n"
                "value sets, tables (including per-deployment tables in other files) and\n"
                "transforms. Prints one 'FILE: ok' line per valid file on stdout and one\n"
                "'file:line:column: at POINTER: message' line per invalid file on stderr.",
            .options =
                {{"canonical",
                  "FILE",
                  "the canonical vocabulary (default mappings/canonical-case.json, or "
                  "$CASEBRIDGE_CANONICAL_CASE)"}},
            .min_positional = 1,
            .max_positional = unlimited,
            .run = run_mapping_check,
        },
        {
            .name = "mapping apply",
            .summary = "map one record (or a list of rows) with a mapping file",
            .usage = "--mapping FILE --direction in|out [--input FILE] [--now TIME] "
                     "[--canonical FILE]",
            .description =
                "Reads a JSON record (or an array of records; for a grouping mapping, an array\n"
                "of joined rows) from --input or stdin and prints the mapped JSON on stdout.\n"
                "Direction 'in' maps a system record to the canonical record, 'out' the reverse.\n"
                "When a record is held (a code a value table does not list, a missing required\n"
                "field, a value that does not fit), prints one JSON object naming the record,\n"
                "the field and the reason, never the value, and exits 3.",
            .options =
                {
                    {"mapping", "FILE", "the mapping file", true},
                    {"direction",
                     "in|out",
                     "in: system to canonical; out: canonical to system",
                     true},
                    {"input", "FILE", "the input JSON (default: stdin)"},
                    {"now", "TIME", "RFC 3339 time used by transforms that need today's date"},
                    {"canonical", "FILE", "the canonical vocabulary file"},
                },
            .exit_codes = ", 3 record held",
            .run = run_mapping_apply,
        },
        {
            .name = "demo",
            .summary = "run every flow once between in-process sandboxes and show what moved",
            .usage = "[--dir DIR] [--cases N] [--data DIR] [--serve] | --imo [--dir DIR] "
                     "[--children N] [--seed N] [--data DIR]",
            .description =
                "Starts the CPIMS+ (Primero) and UNHCR PING sandboxes in this process with N\n"
                "synthetic cases (default 300), writes a configuration, keys and the store into\n"
                "a fresh folder (default ./casebridge-demo-TIME), runs each flow once: CPIMS+\n"
                "referrals to UNHCR, UNHCR decisions back to CPIMS+, the caseload to the DSS\n"
                "exchange folder (a password-protected ZIP, its manifest and the data\n"
                "dictionary; the passphrase is in secrets/). Prints what was shared, withheld\n"
                "and dead-lettered and why, the last transfer-log entries, the result of log\n"
                "verify and where the files are, then exits, leaving nothing running. With\n"
                "--serve the daemon and its admin API keep running until Ctrl-C. The catalogue,\n"
                "mappings, value tables and policies are compiled in and copied to DIR/data;\n"
                "a file under --data DIR at the same path (mappings/primero.case.json,\n"
                "config/policies.json, config/tables/dss.json, ...) is used instead.\n"
                "With --imo it shows the CPSS IMO use instead: three agencies' CPIMS+ sandboxes\n"
                "serving overlapping children of one synthetic population (with field errors),\n"
                "each agency's casebridge sending encoded records to an in-process IMO hub,\n"
                "linkage, and the hub's possible-duplicate notices raised as flags on each\n"
                "agency's own cases; it prints records per agency, clusters, matches, review\n"
                "items, precision and recall against the sandbox truth, flags per agency and\n"
                "the hub's log verify (docs/imo.md).",
            .options =
                {{"dir", "DIR", "the folder to write (must not hold a demo already)"},
                 {"cases", "N", "synthetic CPIMS+ cases, 0 to 100000 (default 300)"},
                 {"data",
                  "DIR",
                  "a folder whose mappings/ and config/ files replace the compiled-in ones"},
                 {"serve", "", "keep the daemon and the admin API running afterwards"},
                 {"imo", "", "the IMO use: three agencies, the hub, notices as case flags"},
                 {"children",
                  "N",
                  "with --imo: children in the population, 10 to 100000 "
                  "(default 300)"},
                 {"seed", "N", "with --imo: the population's seed (default 2026)"}},
            .run = run_demo,
        },
        {
            .name = "caseload-transfer plan",
            .summary = "list every case of a hand-over flow with its decision, for review",
            .usage = "--config FILE --flow ID --out FILE",
            .description =
                "Reads every record of the flow's source from the start (nothing is sent or\n"
                "stored) and writes a review file (CSV): per record its id, the decision\n"
                "(transfer, needs_consent_confirmation, withheld, held, awaiting_acknowledgement,\n"
                "already_transferred: the current version delivered, and accepted where the\n"
                "target acknowledges; anything withheld or held before is decided again), the\n"
                "reason, the basis, the receiving system, the number of fields that would be\n"
                "sent, an empty 'confirm' and 'override_reason' for the reviewer, and a check\n"
                "that binds id and decision to this plan. Ids and codes only. Prints a summary.",
            .options =
                {{"config", "FILE", "the configuration file", true},
                 {"flow", "ID", "the hand-over flow (e.g. caseload-to-dss)", true},
                 {"out", "FILE", "where to write the review file", true}},
            .run = run_caseload_plan,
        },
        {
            .name = "caseload-transfer execute",
            .summary = "transfer exactly the cases confirmed in a reviewed plan",
            .usage = "--config FILE --flow ID --review FILE [--receipt FILE] [--actor ID]",
            .description =
                "Checks the whole review file first and refuses it, sending nothing, when a row\n"
                "was edited (id or decision), a record is listed twice, 'confirm' is not yes/no/\n"
                "empty, a withheld or held record is confirmed, or a consent confirmation has no\n"
                "written override_reason (each problem names its line). Then it fetches each\n"
                "confirmed record fresh, decides again (with the operator's override where one\n"
                "was written) and transfers it; running it twice transfers nothing twice. Each\n"
                "transfer and override is logged (the override's reason by its SHA-256). Writes\n"
                "a receipt of its own (counts that add up to the confirmed records, ids, the\n"
                "records not handed over with their reasons, override reason hashes, the log's\n"
                "signed checkpoint) for the receiving side; a receipt is never overwritten.\n"
                "Progress is shown on a terminal.",
            .options =
                {{"config", "FILE", "the configuration file", true},
                 {"flow", "ID", "the hand-over flow", true},
                 {"review", "FILE", "the reviewed plan", true},
                 {"receipt",
                  "FILE",
                  "where to write the receipt; refused if it exists (default REVIEW.receipt.json,\n"
                  "then REVIEW.receipt-2.json, ...)"},
                 {"actor", "ID", "the operator named in override log entries (default operator)"}},
            .exit_codes = ", 3 records held (dead-lettered)",
            .run = run_caseload_execute,
        },
        {
            .name = "run",
            .summary = "the daemon: run every flow on its schedule, with the admin API",
            .usage = "--config FILE [--shutdown-grace SECONDS]",
            .description =
                "Loads and checks the configuration, opens the store, and runs every flow that\n"
                "is not paused on its schedule (one run at a time per flow). Prints 'admin: URL'\n"
                "when the admin API listens, then 'running'. SIGTERM or SIGINT: the pages in\n"
                "hand are settled and committed, then it exits 0 (within --shutdown-grace,\n"
                "default 30 s). SIGHUP: the configuration is read again; a configuration that\n"
                "does not load is refused and the old one keeps running. Logs go to stderr as\n"
                "JSON lines, with ids, counts and field names only. It holds the store's writer\n"
                "lock (STORE.lock) while it runs: other writers are refused, readers are not.",
            .options =
                {{"config", "FILE", "the configuration file", true},
                 {"shutdown-grace",
                  "SECONDS",
                  "how long runs in hand may take at shutdown, 0 to 3600 (default 30)"}},
            .run = run_daemon_command,
        },
        {
            .name = "flow run",
            .summary = "run one flow once now, or decide without sending (--dry-run)",
            .usage = "FLOW --config FILE [--dry-run] [--max-pages N]",
            .description =
                "Runs FLOW once from its cursor until the source is caught up, then prints the\n"
                "counts. With --dry-run it reads and decides but writes nothing upstream and\n"
                "nothing to the store, and prints one line per record: its id, the decision\n"
                "(would_send, withheld, consent_withdrawn, dead, skipped), the basis, the reason,\n"
                "and the names of the fields that would be sent and withheld. Exit 0 when every\n"
                "record was settled, 3 when some were dead-lettered, 1 when the run stopped\n"
                "early (the cursor stays at the last settled page). Without --dry-run it is\n"
                "refused (exit 1) while another process, such as the daemon, writes the store;\n"
                "the message names it and the daemon's POST /flows/FLOW/run route.",
            .options =
                {{"config", "FILE", "the configuration file", true},
                 {"dry-run", "", "decide and report; send and store nothing"},
                 {"max-pages", "N", "stop after N pages, 1 to 1000000000"}},
            .min_positional = 1,
            .max_positional = 1,
            .exit_codes = ", 3 records held (dead-lettered)",
            .run = run_flow_run,
        },
        {
            .name = "reconcile",
            .summary = "check what a flow's target holds against what the transfer log says",
            .usage =
                "--config FILE --flow ID [--sample N [--seed S] | --all] [--out FILE] [--repair]",
            .description =
                "For each record the store says the flow delivered or withheld (or a random\n"
                "sample of N of them), reads the source's current version, decides it as the\n"
                "flow would (map in, DPISP profile, map out), finds the record at the target by\n"
                "its link and by the key creates are made with (Primero: the deterministic id;\n"
                "PING: the correlation key), projects the target's record onto the fields the\n"
                "flow sends and compares. Prints the count per class: match, stale_at_target,\n"
                "differs, missing_at_target, duplicated_at_target, unexpected_at_target,\n"
                "withheld_but_present, pending (changed at the source since; the next run sends\n"
                "it) and unchecked; --out writes one CSV row per record (ids, class, target ids,\n"
                "names of differing fields, reason code; never a value). --all (the default)\n"
                "walks the whole source and also finds records the target holds that this\n"
                "store never sent. Each run appends one transfer-log entry (kind\n"
                "reconciliation) with the counts, the sample size and the profile and mapping\n"
                "versions. It reads, so it runs beside the daemon. --repair then re-delivers\n"
                "stale and missing records through the flow (consent decided again, every\n"
                "outcome logged) and raises duplicated and withheld_but_present records for\n"
                "review, never deleting anything; it takes the writer lock. A DSS target is read\n"
                "through its sent register and DSS's acknowledgement files (no content is\n"
                "compared). See docs/operations.md, reconciliation.",
            .options =
                {{"config", "FILE", "the configuration file", true},
                 {"flow", "ID", "the flow to reconcile", true},
                 {"sample",
                  "N",
                  "check N records drawn at random, 1 to 10000000 (459 finds a 1% "
                  "divergence with 99% confidence)"},
                 {"all", "", "check every record (the default)"},
                 {"out", "FILE", "write the per-record CSV here"},
                 {"seed", "S", "seed of the sample, 1 to 1000000000000 (default: random)"},
                 {"repair", "", "then re-deliver stale and missing records, review the rest"}},
            .exit_codes = "0 ok, 1 error (also when a record could not be checked), 2 usage, 4 "
                          "divergences found (with --repair:\nrecords were left to a person or "
                          "could not be re-delivered)",
            .run = run_reconcile,
        },
        {
            .name = "report run",
            .summary = "make a sector report of unique children, small cells withheld",
            .usage = "(--config FILE | --definitions FILE (--hub-store FILE | --children FILE | "
                     "--store FILE)) --report ID --period P [--out DIR]",
            .description =
                "Counts the unique children of an IMO hub's store (--hub-store: one per cluster\n"
                "of active records, read only) or of --children (JSON Lines: one object per\n"
                "child, each member a coarse field's value or values) into the tables of\n"
                "report ID of --definitions (config/reports.json), withholds every\n"
                "count from 1 to k-1 and every cell from which one could be worked out, audits\n"
                "the result (two integer programmes per withheld cell) and, only when the audit\n"
                "passes, writes report.html, report.xlsx, one CSV per table and manifest.json\n"
                "into DIR, each file atomically. Prints counts only. A report whose measure is\n"
                "\"events\" (dpisp-activity) counts instead the sharing events of one agency's\n"
                "own store (--store, read only) in the period (YYYY-MM or YYYY): records shared\n"
                "by recipient, purpose and basis, withheld by reason, consent withdrawals and\n"
                "overrides. With --config the definitions come from its reports section, the\n"
                "sources from its store and hub sections, and DIR defaults to\n"
                "reports.out_dir/ID/P. See docs/reports.md.",
            .options =
                {{"config", "FILE", "a configuration with a reports section"},
                 {"definitions", "FILE", "or: the report definitions (config/reports.json)"},
                 {"report", "ID", "the report to make", true},
                 {"period", "P", "the period the report covers, e.g. 2026-11", true},
                 {"hub-store", "FILE", "the IMO hub's store (hub.store.path)"},
                 {"children", "FILE", "or: the unique children, JSON Lines"},
                 {"store", "FILE", "or, for an events report: the agency's store"},
                 {"out", "DIR", "the folder to write the report into"}},
            .run = run_report_run,
        },
        {
            .name = "report audit",
            .summary = "prove from a report's files that no withheld cell can be worked out",
            .usage = "DIR",
            .description =
                "Reads manifest.json and the CSV files a `report run` wrote into DIR, takes the\n"
                "withheld cells as unknown, and works out from the published cells and margins\n"
                "of all the report's tables the smallest and largest value each withheld cell\n"
                "can have. Passes when every interval is at least k wide; otherwise lists the\n"
                "cells (their categories and interval). See docs/reports.md.",
            .min_positional = 1,
            .max_positional = 1,
            .exit_codes = ", 4 a withheld cell can be narrowed below k",
            .run = run_report_audit,
        },
        {
            .name = "hub serve",
            .summary = "run the IMO hub: the ingest API over TLS and linkage on receipt",
            .usage = "--config FILE",
            .description =
                "Runs the IMO hub of the configuration's hub section until SIGTERM or SIGINT:\n"
                "listens on hub.listen over TLS (plain HTTP only on loopback with\n"
                "allow_plain_http_on_loopback), authenticates each agency by its bearer token\n"
                "(and client certificate when hub.tls.client_ca_file is set), stores what they\n"
                "send in hub.store.path with a chained transfer-log entry per receipt and\n"
                "withdrawal, and re-links the active records on a worker after each batch that\n"
                "changed something. Prints 'hub: URL' once listening. The API is in\n"
                "docs/hub-api.md; `casebridge log verify --store` checks the hub's log.",
            .options = {{"config", "FILE", "the configuration file (its hub section)", true}},
            .run = run_hub_serve,
        },
        {
            .name = "hub link",
            .summary = "re-link the hub's active records now and print the counts",
            .usage = "--config FILE",
            .description =
                "Re-links every active record of the hub's linkage schema version (candidates,\n"
                "scores, clusters with the configured thresholds), stores the cluster refs,\n"
                "review items and within-agency duplicates, logs merges and splits, and prints\n"
                "counts only. Runs beside `hub serve` (SQLite orders the writes).",
            .options = {{"config", "FILE", "the configuration file (its hub section)", true}},
            .run = run_hub_link,
        },
        {
            .name = "hub stats",
            .summary = "counts of the hub: records per agency, clusters, matches, reviews",
            .usage = "--config FILE [--json]",
            .description =
                "Prints, from the hub store: active and withdrawn records per configured agency,\n"
                "clusters of the last linkage, clusters holding records of two or more\n"
                "agencies, automatic matches, review items and within-agency duplicates.\n"
                "Counts only: never a pseudonym, an encoding or a coarse value.",
            .options =
                {{"config", "FILE", "the configuration file (its hub section)", true},
                 {"json", "", "print one JSON object instead of text"}},
            .run = run_hub_stats,
        },
        {
            .name = "hub review export",
            .summary = "write the hub's review items to a CSV file for a person to decide",
            .usage = "--config FILE --out FILE",
            .description =
                "Writes one row per review item (two records of different agencies scoring\n"
                "between the thresholds): review_id, both agencies and pseudonyms, the score, an\n"
                "empty decision and a check that binds the row to this hub (a keyed hash of the\n"
                "ids and the score). Fill 'decision' with same or not_same, then run\n"
                "`hub review decide`. Ids and scores only: no encoding, no coarse value.",
            .options =
                {{"config", "FILE", "the configuration file (its hub section)", true},
                 {"out", "FILE", "the CSV file to write", true}},
            .run = run_hub_review_export,
        },
        {
            .name = "hub review decide",
            .summary = "record the decisions of a reviewed CSV file and re-link",
            .usage = "--config FILE --in FILE --actor ID",
            .description =
                "Reads a file `hub review export` wrote and a person filled in. The whole file\n"
                "is refused, and nothing recorded, when a row's ids or score were edited (its\n"
                "check does not match), a pair is listed twice, or a decision is not same,\n"
                "not_same or empty; each problem is named with its line. Otherwise each decision\n"
                "is remembered (a later one about the same pair replaces it) with a chained\n"
                "review_decision log entry naming the actor, and the hub re-links: a pair\n"
                "decided the same child is linked, one decided not the same is neither linked\n"
                "nor reviewed again. Pairs with a record withdrawn since are skipped and counted.",
            .options =
                {{"config", "FILE", "the configuration file (its hub section)", true},
                 {"in", "FILE", "the reviewed CSV file", true},
                 {"actor", "ID", "who decided (an id, logged with each decision)", true}},
            .run = run_hub_review_decide,
        },
        {
            .name = "sandbox primero",
            .summary = "serve a simulated CPIMS+ (Primero v2) API with synthetic cases",
            .usage =
                "[--listen ADDRESS:PORT] [--cases N | --population SEED --agency K "
                "[--population-children N]] [--seed S] [--legacy-jwt] [--fault KIND[:EVERY] ...]",
            .description =
                "Serves the Primero v2 API as the reference describes it (Basic and session\n"
                "auth, envelopes and errors, paging, filters, create/update/disable, referrals,\n"
                "transfers and transfer requests, case flags, per-user permissions and scope)\n"
                "with N synthetic cases, the same for the same seed. Prints the base URL on the\n"
                "first line of stdout, then 'user: NAME' and 'password: SECRET' of the user with\n"
                "every case permission, and serves until interrupted. Plain HTTP: bind it to\n"
                "loopback only.\n"
                "\n"
                "With --population SEED --agency K it serves instead agency K's share of a\n"
                "synthetic population of children shared by three agencies (agency_a, agency_b,\n"
                "agency_c): sandboxes started with the same SEED and different agencies hold\n"
                "overlapping children with realistic field errors (for the IMO hub's linkage),\n"
                "and a few cases have no consent for reporting. It then also prints\n"
                "'agency: ID' and 'cases: N'.",
            .options =
                {{"listen", "ADDRESS:PORT", "where to listen (default 127.0.0.1:0, any free port)"},
                 {"cases", "N", "synthetic cases to generate, 0 to 1000000 (default 0)"},
                 {"seed", "S", "seed for cases and password (default 1)"},
                 {"population",
                  "SEED",
                  "serve one agency's share of the population made from SEED (with --agency; "
                  "not with --cases)"},
                 {"agency",
                  "K",
                  "the agency: index 0, 1, 2 or its id (agency_a, agency_b, agency_c)"},
                 {"population-children",
                  "N",
                  "children in the population, 1 to 100000 (default 1000)"},
                 {"fault",
                  "KIND[:EVERY]",
                  "inject a fault every EVERY requests (default 10): latency=MS, 500, 502, 503, "
                  "504, 429, reset, truncate, malformed, lost (handled, then reset)",
                  false,
                  true},
                 {"legacy-jwt", "", "log in as Primero <= 2.10 did: a JWT instead of a session"}},
            .run = run_sandbox_primero,
        },
        {
            .name = "sandbox ping",
            .summary =
                "serve a simulated UNHCR PING gateway (proGres v4) with synthetic interventions",
            .usage =
                "[--listen ADDRESS:PORT] [--interventions N] [--seed S] [--token-lifetime SECONDS] "
                "[--page-rows N] [--decide-after SECONDS] [--fault KIND[:EVERY] ...]",
            .description =
                "Serves the PING gateway as the reference describes it: the Azure AD B2C token\n"
                "endpoint (password grant, expiring tokens), API management's subscription-key\n"
                "check, retrievedatawithpaging with joined rows (duplicates included), the paging\n"
                "cookie and \"No Data Available\", and ingestion (data, asyncdata, checkstatus "
                "with\n"
                "its unescaped Data string), over N synthetic interventions, the same for the "
                "same\n"
                "seed. Prints the base URL on the first line of stdout, then 'token_url:', "
                "'user:',\n"
                "'password:', 'client_id:', 'subscription_key:', 'scope:', the partner, interop,\n"
                "business unit and organisation ids, the correlation field and one\n"
                "'shipping_process.STREAM.OP:' line per query, and serves until interrupted.\n"
                "Plain HTTP: bind it to loopback only.",
            .options =
                {{"listen", "ADDRESS:PORT", "where to listen (default 127.0.0.1:0, any free port)"},
                 {"interventions",
                  "N",
                  "synthetic interventions to generate, 0 to 1000000 (default 0)"},
                 {"seed", "S", "seed for interventions and credentials (default 1)"},
                 {"token-lifetime",
                  "SECONDS",
                  "lifetime of the tokens issued, 1 to 86400 (default 3600)"},
                 {"page-rows", "N", "rows per retrieval page, 1 to 5000 (default 50)"},
                 {"decide-after",
                  "SECONDS",
                  "decide referrals received this long after, 0 to 2592000 (default 0: never)"},
                 {"fault",
                  "KIND[:EVERY]",
                  "inject a fault every EVERY requests (default 10): latency=MS, 500, 502, 503, "
                  "504, 429, reset, truncate, malformed, lost (handled, then reset)",
                  false,
                  true}},
            .run = run_sandbox_ping,
        },
    };
    return table;
}

std::string help_text(const command_spec& c) {
    std::ostringstream s;
    s << "Usage: casebridge " << c.name;
    if (!c.usage.empty()) {
        s << ' ' << c.usage;
    }
    s << "\n\n" << c.summary << ".\n";
    if (!c.description.empty()) {
        s << '\n' << c.description << '\n';
    }
    s << "\nOptions:\n";
    std::size_t width = 10;
    std::vector<std::string> left;
    for (const auto& o : c.options) {
        std::string l = "--" + std::string(o.name);
        if (!o.value_name.empty()) {
            l += ' ' + std::string(o.value_name);
        }
        width = std::max(width, l.size());
        left.push_back(std::move(l));
    }
    for (std::size_t i = 0; i < c.options.size(); ++i) {
        const auto& o = c.options[i];
        s << "  " << left[i] << std::string(width - left[i].size() + 2, ' ') << o.help;
        if (o.required) {
            s << " (required)";
        }
        if (o.repeatable) {
            s << " (may be repeated)";
        }
        s << '\n';
    }
    s << "  -h, --help" << std::string(width > 10 ? width - 10 + 2 : 2, ' ') << "show this help\n";
    s << "\nExit codes: ";
    if (c.exit_codes.starts_with("0 ")) {
        s << c.exit_codes;
    } else {
        s << "0 ok, 1 error, 2 usage" << c.exit_codes;
    }
    s << ".\n";
    return s.str();
}

std::string overview_text() {
    std::ostringstream s;
    s << "casebridge moves child-protection case data between CPIMS+ (Primero v2), UNHCR\n"
         "proGres v4 (through PING) and the Bangladesh DSS, under DPISP profiles, with a\n"
         "tamper-evident transfer log.\n\n"
         "Usage: casebridge COMMAND [OPTIONS]\n\nCommands:\n";
    std::size_t width = 0;
    for (const auto& c : commands()) {
        width = std::max(width, c.name.size());
    }
    for (const auto& c : commands()) {
        s << "  " << c.name << std::string(width - c.name.size() + 2, ' ') << c.summary << '\n';
    }
    s << "\nRun 'casebridge COMMAND --help' for a command's options.\n"
         "Exit codes: 0 ok, 1 error, 2 usage, 3 record held (mapping apply, flow run,\n"
         "caseload-transfer execute), 4 divergences found (reconcile) or a withheld cell\n"
         "exposed (report audit).\n";
    return s.str();
}

int run(const std::vector<std::string>& args, command_io& io) {
    if (args.empty() || args[0] == "-h" || args[0] == "--help") {
        io.out << overview_text();
        return args.empty() ? exit_usage : exit_ok;
    }
    if (args[0] == "-V" || args[0] == "--version") {
        return run(std::vector<std::string>{"version"}, io);
    }
    if (args[0] == "help") {
        if (args.size() == 1) {
            io.out << overview_text();
            return exit_ok;
        }
        std::vector<std::string> rest(args.begin() + 1, args.end());
        rest.emplace_back("--help");
        return run(rest, io);
    }
    // Longest match first: "mapping check" before a one-word "mapping", "hub review export"
    // before "hub review".
    const command_spec* best = nullptr;
    std::size_t best_words = 0;
    for (const auto& c : commands()) {
        std::vector<std::string_view> name_words;
        for (std::string_view rest = c.name; !rest.empty();) {
            const std::size_t space = rest.find(' ');
            name_words.push_back(rest.substr(0, space));
            rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
        }
        const std::size_t words = name_words.size();
        bool match = args.size() >= words;
        for (std::size_t w = 0; match && w < words; ++w) {
            match = args[w] == name_words[w];
        }
        if (match && words > best_words) {
            best = &c;
            best_words = words;
        }
    }
    if (best == nullptr) {
        // A group alone ("mapping", "hub review") or with an unknown next word: list the
        // group's commands, the longest group the words name first.
        for (std::size_t k = args.size(); k >= 1; --k) {
            std::string prefix;
            for (std::size_t w = 0; w < k; ++w) {
                prefix += (w == 0 ? "" : " ") + args[w];
            }
            std::vector<const command_spec*> group;
            for (const auto& c : commands()) {
                if (c.name.size() > prefix.size() && c.name.starts_with(prefix) &&
                    c.name[prefix.size()] == ' ') {
                    group.push_back(&c);
                }
            }
            if (group.empty()) {
                continue;
            }
            const bool asked = args.size() > k && (args[k] == "-h" || args[k] == "--help");
            if (args.size() > k && !asked) {
                io.err << "casebridge: unknown command '" << prefix << ' ' << args[k] << "'\n";
            }
            std::ostream& to = asked ? io.out : io.err;
            to << "casebridge " << prefix << " needs one of:\n";
            for (const auto* c : group) {
                to << "  " << c->name << "  " << c->summary << '\n';
            }
            return asked ? exit_ok : exit_usage;
        }
        io.err << "casebridge: unknown command '" << args[0] << "' (run 'casebridge --help')\n";
        return exit_usage;
    }
    const std::vector<std::string> rest(
        args.begin() + static_cast<std::ptrdiff_t>(best_words), args.end()
    );
    const option_parser parser(best->options, best->min_positional, best->max_positional);
    auto parsed = parser.parse(rest);
    if (parsed.help_requested) {
        io.out << help_text(*best);
        return exit_ok;
    }
    if (!parsed.args) {
        io.err << "casebridge " << best->name << ": " << parsed.error << "\n"
               << "Usage: casebridge " << best->name << ' ' << best->usage << "\n"
               << "Run 'casebridge " << best->name << " --help' for details.\n";
        return exit_usage;
    }
    try {
        return best->run(*parsed.args, io);
    } catch (const usage_error& e) {
        io.err << "casebridge " << best->name << ": " << e.what() << "\n"
               << "Usage: casebridge " << best->name << ' ' << best->usage << "\n";
        return exit_usage;
    } catch (const std::bad_alloc&) {
        // A clean exit instead of an abort; store writes are transactions either way.
        io.err << "casebridge " << best->name << ": out of memory\n";
        return exit_error;
    } catch (const json::file_error& e) {
        // Startup-style errors: a file that cannot be used. The message names file:line:col.
        io.err << "casebridge " << best->name << ": " << e.what() << '\n';
        return exit_error;
    }
}

}  // namespace casebridge::cli
