#!/usr/bin/env bash
# The crates under shared/ are what the services are built from: none may depend on a crate under
# services/ (the wiring of services lives above them, in services/embedded). Fails naming the
# offending dependency.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo metadata --format-version 1 --no-deps --offline 2>/dev/null | python3 -c '
import json, os, sys
root = os.getcwd()
packages = json.load(sys.stdin)["packages"]
under = lambda package, folder: os.path.relpath(package["manifest_path"], root).startswith(folder + "/")
services = {package["name"] for package in packages if under(package, "services")}
wrong = [
    (package["name"], dependency["name"])
    for package in packages if under(package, "shared")
    for dependency in package["dependencies"] if dependency["name"] in services
]
for shared, service in wrong:
    print(f"check-layers: {shared} (shared/) depends on {service} (services/)", file=sys.stderr)
sys.exit(1 if wrong else 0)
'
echo "check-layers: no crate under shared/ depends on a service"
