#!/usr/bin/env python3
"""Compile picket's built-in release data (src/software/releases.json) from a checkout of
endoflife.date's repository (products/*.md front matter): the facts only (cycle, release date,
end-of-life date, latest version), written in the shape of the API v1 /products/full response.

usage: python3 src/software/releases.py ENDOFLIFE_DATE_CHECKOUT COMPILED_DATE > src/software/releases.json

The 2026-12-07 table was compiled from endoflife.date at commit a70eca33 (2026-08-22).
"""
import datetime, json, sys, yaml

PRODUCTS = ["nginx", "apache-http-server", "openssl", "php", "python", "nodejs", "tomcat",
            "eclipse-jetty", "dotnetfx", "caddy", "envoy", "vinyl-cache", "squid", "redis",
            "mysql", "mariadb", "postgresql", "wordpress", "drupal", "joomla", "jenkins",
            "grafana", "elasticsearch", "postfix", "exim", "proftpd"]
# Cycles left out: Jenkins' "2" stands for every weekly release at once (always maintained);
# placing an old weekly (2.300) in it would call it supported.
SKIP = {("jenkins", "2")}

def main():
    root, compiled = sys.argv[1], datetime.date.fromisoformat(sys.argv[2])
    out = []
    for pid in PRODUCTS:
        text = open(f"{root}/products/{pid}.md", encoding="utf-8").read()
        front = yaml.safe_load(text.split("\n---", 1)[0].lstrip("-\n"))
        aliases = [u.strip("/") for u in front.get("alternate_urls", [])]
        releases = []
        for r in front["releases"]:
            name = str(r["releaseCycle"])
            if (pid, name) in SKIP:
                continue
            eol = r.get("eol")
            if isinstance(eol, datetime.date):
                eol_from, is_eol = eol.isoformat(), eol <= compiled
            else:
                eol_from, is_eol = None, bool(eol)
            lts = r.get("lts")
            latest = r.get("latest")
            ld = r.get("latestReleaseDate")
            releases.append({
                "name": name,
                "codename": None,
                "label": str(r.get("releaseLabel", name)),
                "releaseDate": r["releaseDate"].isoformat(),
                "isLts": bool(lts),
                "ltsFrom": lts.isoformat() if isinstance(lts, datetime.date) else None,
                "isEol": is_eol,
                "eolFrom": eol_from,
                "isMaintained": not is_eol,
                "latest": None if latest is None else {
                    "name": str(latest),
                    "date": ld.isoformat() if isinstance(ld, datetime.date) else None,
                    "link": None,
                },
            })
        out.append({
            "name": pid,
            "label": front["title"],
            "aliases": aliases,
            "category": front.get("category", "server-app"),
            "tags": [t for t in str(front.get("tags", "")).split() if t] or [front.get("category", "server-app")],
            "identifiers": [],
            "labels": {"eol": "Supported"},
            "links": {"html": f"https://endoflife.date/{pid}"},
            "releases": releases,
        })
    # One release a line: the file stays readable and diffs stay small.
    lines = ["{", '  "schema_version": "1.2.1",',
             f'  "generated_at": "{compiled.isoformat()}T00:00:00+00:00",',
             f'  "total": {len(out)},', '  "result": [']
    for i, p in enumerate(out):
        head = {k: v for k, v in p.items() if k != "releases"}
        body = json.dumps(head, ensure_ascii=False)[:-1]
        lines.append("    " + body + ', "releases": [')
        for j, r in enumerate(p["releases"]):
            sep = "," if j + 1 < len(p["releases"]) else ""
            lines.append("      " + json.dumps(r, ensure_ascii=False) + sep)
        lines.append("    ]}" + ("," if i + 1 < len(out) else ""))
    lines += ["  ]", "}"]
    print("\n".join(lines))

main()
