//! Integration tests: the library driven the way Lambda, the local server, operators and AWS
//! drive it. `moto` is the AWS emulator harness, `support` the shared helpers.

mod actions_moto;
mod actions_replay;
mod appconfig_replay;
mod call_budget;
mod commands;
mod docs;
mod ecs_moto;
mod ecs_replay;
mod end_to_end;
mod events;
mod faults;
mod firing;
mod front_doors;
mod guards;
mod hostile;
mod http_contract;
mod lambda_runtime;
mod ledger;
mod moto;
mod notify;
mod payloads;
mod proxy;
mod register;
mod replay_server;
mod runtime_api;
mod secrets;
mod serve_replay;
mod support;
mod wavefront_api;
