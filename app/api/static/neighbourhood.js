// The picture of one file's neighbourhood: the focused file in the middle, one ring per import step,
// the files it imports on the right, the files that import it on the left, files related both ways at the
// top and files reached through a mix of directions at the bottom. Nodes and edges come from
// GET /api/v1/repos/graph?focus=…&depth=…&collapse=… (app/graphview/view.py); folders are collapsed there.
"use strict";

const Neighbourhood = (() => {
  const SVG = "http://www.w3.org/2000/svg";
  const RING = 190; // pixels between two rings
  const NODE_HEIGHT = 26;
  const MAX_LABEL = 26; // characters
  const COLOURS = {
    focus: ["#fff2c6", "#c98f00"],
    dependency: ["#e3edfc", "#2f6fd6"],
    dependent: ["#e2f3e9", "#23884f"],
    both: ["#efe6f9", "#7b4bb7"],
    related: ["#eef0f3", "#7d8794"],
  };
  // Where on a ring each kind of node sits, clockwise from the right (SVG angles grow clockwise).
  const ORDER = ["dependency", "related", "dependent", "both"];
  const WORDS = {
    focus: "the file",
    dependency: "imported by it",
    dependent: "imports it",
    both: "both ways",
    related: "further out",
  };

  function svg(tag, attributes = {}, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function label(node) {
    const name = node.kind === "folder" ? node.name : node.name.split("/").pop();
    const text = node.kind === "folder" ? `${name} (${node.files})` : name;
    return text.length > MAX_LABEL ? `${text.slice(0, MAX_LABEL - 1)}…` : text;
  }

  function layout(view) {
    const rings = new Map();
    for (const node of view.nodes) {
      const ring = node.distance ?? 0;
      if (!rings.has(ring)) rings.set(ring, []);
      rings.get(ring).push(node);
    }
    const places = new Map();
    let outer = 0;
    for (const [ring, nodes] of rings) {
      outer = Math.max(outer, ring);
      nodes.sort((a, b) => ORDER.indexOf(a.relation) - ORDER.indexOf(b.relation) || a.name.localeCompare(b.name));
      const radius = ring === 0 ? (nodes.length > 1 ? 60 : 0) : ring * RING;
      // Centre the first group (the files the focus imports) on the right-hand side.
      const first = nodes.filter((node) => node.relation === nodes[0].relation).length;
      const step = (2 * Math.PI) / nodes.length;
      const start = -((first - 1) * step) / 2;
      nodes.forEach((node, index) => {
        const angle = start + index * step;
        places.set(node.name, { x: radius * Math.cos(angle), y: radius * Math.sin(angle) });
      });
    }
    return { places, outer };
  }

  function draw(container, view, onFocus) {
    const { places, outer } = layout(view);
    const half = outer * RING + 150;
    const picture = svg("svg", {
      viewBox: `${-half} ${-(outer * RING + 60)} ${2 * half} ${2 * (outer * RING + 60)}`,
      width: 2 * half, role: "img", "aria-labelledby": "graph-picture-title",
    });
    picture.append(svg("title", { id: "graph-picture-title" }, describe(view)));
    const defs = svg("defs");
    const marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
    marker.append(svg("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#8b97a6" }));
    defs.append(marker);
    picture.append(defs);
    const widths = new Map(view.nodes.map((node) => [node.name, Math.max(48, label(node).length * 7.2 + 18)]));
    for (const edge of view.node_edges) {
      const from = places.get(edge.src);
      const to = places.get(edge.dst);
      if (!from || !to || edge.src === edge.dst) continue;
      const [x1, y1] = boundary(from, to, widths.get(edge.src));
      const [x2, y2] = boundary(to, from, widths.get(edge.dst));
      const line = svg("line", {
        x1, y1, x2, y2, class: edge.type_only ? "edge type-only" : "edge",
        "stroke-width": 1 + Math.log2(edge.count), "marker-end": "url(#arrow)",
      });
      line.append(svg("title", {}, `${edge.src} imports ${edge.dst}${edge.count > 1 ? ` (${edge.count} imports)` : ""}${edge.type_only ? ", types only" : ""}`));
      picture.append(line);
    }
    for (const node of view.nodes) {
      const place = places.get(node.name);
      const width = widths.get(node.name);
      const [fill, stroke] = COLOURS[node.relation] || COLOURS.related;
      const group = svg("g", {
        class: `node ${node.kind}`, transform: `translate(${place.x},${place.y})`, "data-name": node.name,
      });
      group.append(svg("title", {}, `${node.name}${node.kind === "folder" ? ` (${node.files} files)` : ""}: ${WORDS[node.relation] || ""}`));
      group.append(svg("rect", {
        x: -width / 2, y: -NODE_HEIGHT / 2, width, height: NODE_HEIGHT, rx: node.kind === "folder" ? 2 : 8,
        fill, stroke, "stroke-width": node.relation === "focus" ? 3 : 1.5,
      }));
      group.append(svg("text", { "text-anchor": "middle", "dominant-baseline": "central" }, label(node)));
      if (node.kind === "file" && node.relation !== "focus") {
        group.setAttribute("tabindex", "0");
        group.setAttribute("role", "button");
        group.setAttribute("aria-label", `Centre on ${node.name}`);
        group.addEventListener("click", () => onFocus(node.name));
        group.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); onFocus(node.name); } });
      }
      picture.append(group);
    }
    container.replaceChildren(picture);
  }

  // Where the line from `from` towards `to` leaves the box drawn around `from`.
  function boundary(from, to, width) {
    const dx = to.x - from.x;
    const dy = to.y - from.y;
    if (!dx && !dy) return [from.x, from.y];
    const scale = Math.min(Math.abs((width / 2 + 3) / (dx || 1e-9)), Math.abs((NODE_HEIGHT / 2 + 3) / (dy || 1e-9)));
    return [from.x + dx * Math.min(scale, 1), from.y + dy * Math.min(scale, 1)];
  }

  // Files one import away that the focus imports ("dependency") or that import it ("dependent").
  function count(view, relation) {
    return view.nodes.filter((node) => node.distance === 1 && (node.relation === relation || node.relation === "both"))
      .reduce((total, node) => total + node.files, 0);
  }

  function describe(view) {
    const focus = view.focus.join(", ");
    const cycles = view.cycles.filter((cycle) => cycle.some((path) => view.focus.includes(path)));
    let text = `${focus} imports ${count(view, "dependency")} and is imported by ${count(view, "dependent")} of the files shown; ` +
      `${view.files.length} of ${view.files_total} files in ${view.nodes.length} nodes.`;
    if (cycles.length) text += ` In an import cycle with ${cycles[0].filter((path) => !view.focus.includes(path)).join(", ")}.`;
    return text;
  }

  function listItems(view) {
    return [...view.nodes].sort((a, b) => (a.distance ?? 0) - (b.distance ?? 0) || a.name.localeCompare(b.name))
      .map((node) => {
        const item = document.createElement("li");
        item.textContent = `${node.name}${node.kind === "folder" ? ` (${node.files} files)` : ""}: ${WORDS[node.relation] || ""}, ${node.distance ?? 0} away`;
        return item;
      });
  }

  return { draw, describe, listItems };
})();
