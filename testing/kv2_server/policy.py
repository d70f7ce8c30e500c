"""ACL policies: which capabilities a token's policies grant on a path."""


def glob_score(pattern, path):
    """How specifically `pattern` matches `path`, or None. Higher is more specific."""
    prefix = pattern.endswith("*")
    pat = pattern[:-1] if prefix else pattern
    pat_parts = pat.split("/")
    path_parts = path.split("/")
    if not prefix and len(pat_parts) != len(path_parts):
        return None
    if prefix and len(path_parts) < len(pat_parts):
        return None
    plus = 0
    for i, p in enumerate(pat_parts):
        last = i == len(pat_parts) - 1
        seg = path_parts[i]
        if p == "+":
            plus += 1
            continue
        if last and prefix:
            if not seg.startswith(p):
                return None
        elif p != seg:
            return None
    return (0 if prefix else 1, len(pat) - plus, -plus)


def capabilities(state, token, rel_path):
    if "root" in token.policies:
        return {"root"}
    caps = set()
    deny = False
    for name in token.policies:
        best = None
        for rule in state.policies.get(name, []):
            score = glob_score(rule["path"], rel_path)
            if score is not None and (best is None or score > best[0]):
                best = (score, rule)
        if best is not None:
            rule_caps = set(best[1].get("capabilities", []))
            if "deny" in rule_caps:
                deny = True
            caps |= rule_caps
    return set() if deny else caps
