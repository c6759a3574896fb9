// Entry points of the subcommands listed in cli.cpp's table.
#pragma once

#include "cli/cli.hpp"

namespace casebridge::cli {
int run_version(const parsed_args& args, command_io& io);
int run_check(const parsed_args& args, command_io& io);
int run_policy_check(const parsed_args& args, command_io& io);
int run_policy_explain(const parsed_args& args, command_io& io);
int run_log_verify(const parsed_args& args, command_io& io);
int run_log_export(const parsed_args& args, command_io& io);
int run_log_show(const parsed_args& args, command_io& io);
int run_log_public_key(const parsed_args& args, command_io& io);
int run_store_purge(const parsed_args& args, command_io& io);
int run_mapping_check(const parsed_args& args, command_io& io);
int run_mapping_apply(const parsed_args& args, command_io& io);
int run_sandbox_primero(const parsed_args& args, command_io& io);
int run_daemon_command(const parsed_args& args, command_io& io);
int run_flow_run(const parsed_args& args, command_io& io);
int run_demo(const parsed_args& args, command_io& io);
int run_caseload_plan(const parsed_args& args, command_io& io);
int run_caseload_execute(const parsed_args& args, command_io& io);
int run_sandbox_ping(const parsed_args& args, command_io& io);
int run_reconcile(const parsed_args& args, command_io& io);
int run_report_run(const parsed_args& args, command_io& io);
int run_report_audit(const parsed_args& args, command_io& io);
int run_hub_serve(const parsed_args& args, command_io& io);
int run_hub_link(const parsed_args& args, command_io& io);
int run_hub_stats(const parsed_args& args, command_io& io);
int run_hub_review_export(const parsed_args& args, command_io& io);
int run_hub_review_decide(const parsed_args& args, command_io& io);
}  // namespace casebridge::cli
