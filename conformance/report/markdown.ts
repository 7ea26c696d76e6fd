/**
 * `report.md`: the summary, the unexpected results, the case × implementation matrix per family, the
 * interop grids and every known divergence with its reason.
 *
 * @module
 */

import { type Cell, cellText, type ReportModel } from "./model.ts";

function escapeCell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\s+/g, " ").trim();
}

function markCell(cell: Cell | undefined): string {
  if (!cell) return "–";
  const text = cellText(cell);
  return cell.unexpected ? `**${text}**` : cell.status === "pass" ? text : `_${text}_`;
}

/**
 * Renders the model as Markdown.
 *
 * @example
 * ```ts
 * import { buildReport } from "./model.ts";
 * import { renderMarkdown } from "./markdown.ts";
 * console.log(renderMarkdown(buildReport({ implementations: [], cases: [], results: [] })));
 * ```
 */
export function renderMarkdown(model: ReportModel): string {
  const out: string[] = [];
  const names = model.implementations.map((i) => i.name);
  out.push("# migwire conformance report", "");
  out.push(
    `Implementations: ${
      model.implementations.map((i) => `\`${i.name}\` (${i.version})`).join(", ")
    }  `,
  );
  out.push(
    `${model.cases} cases, ${model.total} results: ${
      Object.entries(model.counts).filter(([, n]) => n > 0).map(([s, n]) => `${n} ${s}`).join(", ")
    }${model.seconds === undefined ? "" : ` in ${model.seconds.toFixed(0)} s`}.  `,
  );
  out.push(
    model.ok
      ? "Every result matches its expectation."
      : `**${model.unexpected.length} unexpected result(s), ${model.unusedExpectations.length} unused expectation(s).**`,
    "",
  );
  if (model.unexpected.length > 0) {
    out.push("## Unexpected results", "");
    out.push(
      "| case | implementation | peer | status | expected | detail |",
      "|---|---|---|---|---|---|",
    );
    for (const r of model.unexpected) {
      out.push(
        `| \`${r.case}\` | ${r.implementation} | ${r.peer} | ${r.status} | ${r.expected} | ${
          escapeCell(r.detail)
        } |`,
      );
    }
    out.push("");
  }
  if (model.unusedExpectations.length > 0) {
    out.push("## Unused expectations", "");
    for (const u of model.unusedExpectations) {
      out.push(`- \`${u.implementation}\`: \`${u.pattern}\` matches no case`);
    }
    out.push("");
  }
  for (const { family, rows } of model.families) {
    out.push(`## Family \`${family}\``, "");
    out.push(
      `| case | level | requirement | verdict | ${names.join(" | ")} |`,
      `|---|---|---|---|${names.map(() => "---").join("|")}|`,
    );
    for (const row of rows) {
      out.push(
        `| \`${row.spec.id}\` | ${row.spec.level} | ${
          escapeCell(row.spec.requirement)
        } | ${row.expectedVerdict} | ${names.map((n) => markCell(row.cells[n])).join(" | ")} |`,
      );
    }
    out.push("");
    const refs = [...new Set(rows.map((r) => r.refs).filter((r) => r))];
    if (refs.length > 0) {
      out.push("References:", "");
      for (const ref of refs) out.push(`- ${ref}`);
      out.push("");
    }
  }
  if (model.grids.length > 0) {
    out.push("## Interop (source ↓ × destination →)", "");
    for (const grid of model.grids) {
      out.push(`### \`${grid.spec.id}\``, "", escapeCell(grid.spec.requirement), "");
      out.push(
        `| source \\ destination | ${grid.destinations.join(" | ")} |`,
        `|---|${grid.destinations.map(() => "---").join("|")}|`,
      );
      for (const s of grid.sources) {
        out.push(
          `| ${s} | ${grid.destinations.map((d) => markCell(grid.cells[s][d])).join(" | ")} |`,
        );
      }
      out.push("");
    }
  }
  if (model.divergences.length > 0) {
    out.push("## Divergences", "");
    out.push(
      "| case | implementation | peer | status | reason | reference | observed |",
      "|---|---|---|---|---|---|---|",
    );
    for (const r of model.divergences) {
      out.push(
        `| \`${r.case}\` | ${r.implementation} | ${r.peer} | ${
          r.unexpected ? `**${r.status}!**` : r.status
        } | ${escapeCell(r.reason ?? "(no expectation)")} | ${escapeCell(r.ref ?? "")} | ${
          escapeCell(r.detail)
        } |`,
      );
    }
    out.push("");
  }
  return out.join("\n");
}
