#!/usr/bin/env python3
"""The repository stands alone: a clone with nothing beside it has every file its tests and
documents refer to. Run one: standalone.py SOURCE_DIR PIGEON_BINARY TEST_NAME.

Reads the source tree (not git: an exported tarball has no .git), skipping build folders and
dot-folders. No network, no writes."""
import os
import re
import subprocess
import sys

SKIP_DIRS = {"node_modules", "var"}
# The folder beside a checkout that helpers once read specs and vectors from; spelled in two
# pieces so this file does not match itself.
SHARED = re.compile(r"\.\./" + r"(?:\.\./)*shared\b")
# [text](target) in Markdown, not images of remote URLs; the target up to a space or ')'.
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def source_files(root):
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs
                   if not d.startswith(".") and not d.startswith("build") and d not in SKIP_DIRS]
        for name in files:
            yield os.path.join(folder, name)


def read_text(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    if b"\0" in data:
        return None
    return data.decode("utf-8", errors="replace")


def no_committed_file_refers_to_the_shared_folder_beside_the_checkout(root, pigeon):
    hits = []
    for path in source_files(root):
        text = read_text(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if SHARED.search(line):
                hits.append(f"{os.path.relpath(path, root)}:{number}: {line.strip()}")
    assert not hits, ("these lines refer to a folder outside the repository; carry the file "
                      "in tests/fixtures/ or docs/ instead:\n" + "\n".join(hits))


def markdown_files(root):
    yield os.path.join(root, "README.md")
    for path in source_files(root):
        if path.endswith(".md") and os.path.dirname(path) != root:
            yield path


def every_relative_link_in_the_readme_and_docs_resolves_inside_the_repository(root, pigeon):
    broken = []
    checked = 0
    real_root = os.path.realpath(root)
    for path in markdown_files(root):
        text = read_text(path) or ""
        for number, line in enumerate(text.splitlines(), 1):
            for target in LINK.findall(line):
                if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                    continue  # a URL or an anchor in the same page
                file_part = target.split("#", 1)[0]
                resolved = os.path.realpath(os.path.join(os.path.dirname(path), file_part))
                checked += 1
                inside = resolved == real_root or resolved.startswith(real_root + os.sep)
                if not inside or not os.path.exists(resolved):
                    broken.append(f"{os.path.relpath(path, root)}:{number}: ({target})")
    assert checked >= 10, f"only {checked} relative links found: is {root} the source tree?"
    assert not broken, "links to files missing from the repository:\n" + "\n".join(broken)


def help_of(pigeon, *verbs):
    out = subprocess.run([pigeon, *verbs, "--help"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, f"pigeon {' '.join(verbs)} --help exited {out.returncode}"
    return out.stdout


def listed(help_text, heading):
    """Names listed under a CLI11 help heading ("Options:" or "Subcommands:"), without -h/--help:
    the first word of each entry line, split on ',' ("-h,--help"), less "{false}" suffixes."""
    names = []
    section = False
    for line in help_text.splitlines():
        if re.match(r"^[A-Z][A-Za-z ]*:\s*$", line):
            section = line.strip() == heading
            continue
        if not section or not re.match(r"^  \S", line):
            continue
        for name in line.split()[0].split(","):
            name = re.sub(r"\{.*\}$", "", name)
            if name not in ("-h", "--help") and (heading != "Options:" or name.startswith("-")):
                names.append(name)
    return names


def command_sections(doc):
    """`pigeon VERB ... ARGS` heading -> (its verbs, the section's text up to the next heading)."""
    sections = []
    for part in re.split(r"^(?=#)", doc, flags=re.M):
        m = re.match(r"^#+ `pigeon ([^`]*)`", part)
        if m:
            verbs = tuple(w for w in m.group(1).split() if re.fullmatch(r"[a-z][a-z-]*", w))
            sections.append((verbs, part))
    return sections


def cli_md_names_every_verb_and_flag_the_binary_offers(root, pigeon):
    with open(os.path.join(root, "docs", "CLI.md"), encoding="utf-8") as f:
        doc = f.read()
    sections = command_sections(doc)
    missing = []
    queue = [()]
    seen = 0
    while queue:
        verbs = queue.pop()
        text = help_of(pigeon, *verbs)
        seen += 1
        subcommands = listed(text, "Subcommands:")
        queue.extend((*verbs, sub) for sub in subcommands)
        flags = listed(text, "Options:")
        if subcommands and not flags:
            continue  # a verb group (`pigeon campaign`): its verbs have the sections
        # The root's options are in "Global options"; a verb's flags in its own section.
        own = [body for v, body in sections if v == verbs] if verbs else [doc]
        if not own:
            missing.append("a section `pigeon " + " ".join(verbs) + " ...`")
            continue
        for flag in flags:
            if not re.search(re.escape(flag) + r"(?![\w-])", own[0]):
                missing.append(f"{flag} in the section of pigeon {' '.join(verbs)}".rstrip())
    assert seen >= 10, f"only {seen} help screens read"
    assert not missing, "docs/CLI.md does not name:\n" + "\n".join(missing)


TESTS = {f.__name__: f for f in (
    no_committed_file_refers_to_the_shared_folder_beside_the_checkout,
    every_relative_link_in_the_readme_and_docs_resolves_inside_the_repository,
    cli_md_names_every_verb_and_flag_the_binary_offers)}


def main():
    root, pigeon, name = sys.argv[1:4]
    TESTS[name](os.path.abspath(root), pigeon)
    print(f"ok: {name}")


if __name__ == "__main__":
    main()
