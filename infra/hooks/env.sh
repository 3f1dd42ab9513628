# Sourced by the azd hooks: the azd environment's values as shell variables, and checks
# for the tools the hooks use (azd runs hooks from the project's root folder).
set -eu

for tool in az azd; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "$tool is not installed: see README, 'Deploying to Azure'" >&2
    exit 1
  }
done

eval "$(azd env get-values | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=/export \1=/p')"
