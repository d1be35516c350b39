#pragma once

// The --json shapes of a message and of a reply (docs/CLI_JSON.md), shared by `messages`,
// `replies` and `contacts show`.

#include <boost/json/object.hpp>

#include "engine/model/model.hpp"

namespace pigeon::engine::cli {

boost::json::object message_json(const engine::message_row& r);
boost::json::object reply_json(const engine::reply_row& r);

}  // namespace pigeon::engine::cli
