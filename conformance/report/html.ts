/**
 * `report.html`: the same content as `report.md`, self-contained (inline style, no scripts, no
 * external assets), with the matrix cells coloured by status and the detail in a tooltip.
 *
 * @module
 */

import { type Cell, cellText, type ReportModel } from "./model.ts";

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(
    /"/g,
    "&quot;",
  );
}

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:.25em .5em;vertical-align:top;text-align:left}
th{background:#f3f3f3}
code{font-size:90%}
td.pass{background:#e6f4e6}
td.fail{background:#fde8c8}
td.crash{background:#f7c6c6}
td.timeout,td.frozen{background:#f0dcf5}
td.skip{background:#eee;color:#666}
td.unexpected{outline:3px solid #c00;font-weight:bold}
.reason{display:block;font-size:85%;color:#555}
.ok{color:#060}.bad{color:#c00}
`;

function cellHtml(cell: Cell | undefined): string {
  if (!cell) return `<td class="na">–</td>`;
  const classes = [cell.status, cell.unexpected ? "unexpected" : ""].join(" ").trim();
  const title = [cell.detail, cell.reason ? `reason: ${cell.reason}` : "", cell.ref ?? ""].filter(
    (s) => s,
  ).join("\n");
  const reason = cell.reason && cell.status !== "pass"
    ? `<span class="reason">${escapeHtml(cell.reason)}</span>`
    : "";
  return `<td class="${classes}" title="${escapeHtml(title)}">${
    escapeHtml(cellText(cell))
  }${reason}</td>`;
}

/**
 * Renders the model as one self-contained HTML page.
 *
 * @example
 * ```ts
 * import { buildReport } from "./model.ts";
 * import { renderHtml } from "./html.ts";
 * const page = renderHtml(buildReport({ implementations: [], cases: [], results: [] }));
 * console.log(page.startsWith("<!doctype html>"));
 * ```
 */
export function renderHtml(model: ReportModel): string {
  const names = model.implementations.map((i) => i.name);
  const out: string[] = [];
  out.push(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>migwire conformance report</title><style>${STYLE}</style></head><body>`,
  );
  out.push(`<h1>migwire conformance report</h1>`);
  out.push(
    `<p>Implementations: ${
      model.implementations.map((i) =>
        `<code>${escapeHtml(i.name)}</code> (${escapeHtml(i.version)})`
      )
        .join(", ")
    }<br>${model.cases} cases, ${model.total} results: ${
      Object.entries(model.counts).filter(([, n]) => n > 0).map(([s, n]) => `${n} ${s}`).join(", ")
    }${model.seconds === undefined ? "" : ` in ${model.seconds.toFixed(0)} s`}.</p>`,
  );
  out.push(
    model.ok
      ? `<p class="ok">Every result matches its expectation.</p>`
      : `<p class="bad">${model.unexpected.length} unexpected result(s), ${model.unusedExpectations.length} unused expectation(s).</p>`,
  );
  if (model.unexpected.length > 0) {
    out.push(
      `<h2>Unexpected results</h2><table><tr><th>case</th><th>implementation</th><th>peer</th><th>status</th><th>expected</th><th>detail</th></tr>`,
    );
    for (const r of model.unexpected) {
      out.push(
        `<tr><td><code>${escapeHtml(r.case)}</code></td><td>${
          escapeHtml(r.implementation)
        }</td><td>${escapeHtml(r.peer)}</td><td>${r.status}</td><td>${r.expected}</td><td>${
          escapeHtml(r.detail)
        }</td></tr>`,
      );
    }
    out.push(`</table>`);
  }
  if (model.unusedExpectations.length > 0) {
    out.push(`<h2>Unused expectations</h2><ul>`);
    for (const u of model.unusedExpectations) {
      out.push(
        `<li><code>${escapeHtml(u.implementation)}</code>: <code>${
          escapeHtml(u.pattern)
        }</code> matches no case</li>`,
      );
    }
    out.push(`</ul>`);
  }
  for (const { family, rows } of model.families) {
    out.push(
      `<h2>Family <code>${
        escapeHtml(family)
      }</code></h2><table><tr><th>case</th><th>level</th><th>requirement</th><th>verdict</th>${
        names.map((n) => `<th>${escapeHtml(n)}</th>`).join("")
      }</tr>`,
    );
    for (const row of rows) {
      out.push(
        `<tr><td><code>${escapeHtml(row.spec.id)}</code></td><td>${row.spec.level}</td><td>${
          escapeHtml(row.spec.requirement)
        }${row.refs ? `<span class="reason">${escapeHtml(row.refs)}</span>` : ""}</td><td>${
          escapeHtml(row.expectedVerdict)
        }</td>${names.map((n) => cellHtml(row.cells[n])).join("")}</tr>`,
      );
    }
    out.push(`</table>`);
  }
  if (model.grids.length > 0) {
    out.push(`<h2>Interop (source ↓ × destination →)</h2>`);
    for (const grid of model.grids) {
      out.push(
        `<h3><code>${escapeHtml(grid.spec.id)}</code></h3><p>${
          escapeHtml(grid.spec.requirement)
        }</p><table><tr><th>source \\ destination</th>${
          grid.destinations.map((d) => `<th>${escapeHtml(d)}</th>`).join("")
        }</tr>`,
      );
      for (const s of grid.sources) {
        out.push(
          `<tr><th>${escapeHtml(s)}</th>${
            grid.destinations.map((d) => cellHtml(grid.cells[s][d])).join("")
          }</tr>`,
        );
      }
      out.push(`</table>`);
    }
  }
  if (model.divergences.length > 0) {
    out.push(
      `<h2>Divergences</h2><table><tr><th>case</th><th>implementation</th><th>peer</th><th>status</th><th>reason</th><th>reference</th><th>observed</th></tr>`,
    );
    for (const r of model.divergences) {
      out.push(
        `<tr><td><code>${escapeHtml(r.case)}</code></td><td>${
          escapeHtml(r.implementation)
        }</td><td>${escapeHtml(r.peer)}</td>${
          cellHtml({
            status: r.status,
            expected: r.expected,
            unexpected: r.unexpected,
            detail: r.detail,
          })
        }<td>${escapeHtml(r.reason ?? "(no expectation)")}</td><td>${
          escapeHtml(r.ref ?? "")
        }</td><td>${escapeHtml(r.detail)}</td></tr>`,
      );
    }
    out.push(`</table>`);
  }
  out.push(`</body></html>\n`);
  return out.join("\n");
}
