//! Integration tests: the library's front door, commands and payload handling, driven the way
//! Lambda, the local server and operators drive them.

mod commands;
mod docs;
mod front_doors;
mod http_contract;
mod payloads;
mod support;
