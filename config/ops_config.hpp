#pragma once

// Internal to the config target: the operations keys of the engine config (alerts,
// admin_token, drain_timeout, log_format). Every problem is recorded on the reader with its
// file:line:col.
#include <string>

#include "config/engine_config.hpp"
#include "config/yaml_reader.hpp"

namespace pigeon::config {

// Reads the operations keys of the top-level map `root` into `config`, and checks that a
// non-loopback listen.admin has an admin_token (call after listen is read). With
// secrets::leave_unset, an unset ${ENV} in admin_token stays as its text.
void read_operations(detail::yaml_reader& reader, const YAML::Node& root, engine_config& config,
                     secrets mode);

// True for "127.x.x.x:port", "localhost:port", "[::1]:port" and "::1:port".
bool is_loopback_address(const std::string& host_port);

}  // namespace pigeon::config
