#pragma once

// The `pigeon contacts` verbs beside import (registered in contacts_cmd.cpp). Each returns the
// exit code: 0 done, 1 done with problems it printed, 2 bad input (an unknown or unparseable
// phone, a bad --where) or nothing to act on; store errors propagate to main (exit 2).

#include <optional>
#include <string>

#include "engine/cli/context.hpp"

namespace pigeon::engine::cli {

// contacts_view_cmd.cpp
struct contact_list_options {
  std::string tag;    // only contacts with this tag
  std::string where;  // a segment expression (engine/campaign/audience.hpp)
  bool csv = false;   // the export's CSV on stdout
};
int list_contacts(const context& ctx, const contact_list_options& options);
int show_contact(const context& ctx, const std::string& phone);

// contacts_export_cmd.cpp
int export_contacts(const context& ctx, const std::string& file);

// contacts_erase_cmd.cpp
int opt_out_contact(const context& ctx, const std::string& phone);
// On a terminal (stdin), asks before erasing unless `yes` (a person typing a phone may have the
// wrong one); off a terminal (scripts, privacy-request tooling) it erases without asking.
int delete_contact(const context& ctx, const std::string& phone, bool yes);

// A phone from the command line, in any format libphonenumber parses (national numbers in the
// config's default_region), as E.164; nullopt after printing why (`what` names the argument).
std::optional<std::string> phone_argument(const std::string& text,
                                          const std::string& default_region);

}  // namespace pigeon::engine::cli
