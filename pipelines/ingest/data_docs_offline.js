// Stands in, offline, for the jQuery and bootstrap-table calls GX Data Docs pages make:
// $(document).ready(fn), $(sel).on(...), $(sel).bootstrapTable(options) (the table drawn
// from options.columns and options.data, a row linking to its _table_row_link_path).
(function () {
  function wrap(target) {
    var nodes = typeof target === "string" ? Array.prototype.slice.call(document.querySelectorAll(target))
      : [target];
    var api = {
      ready: function (fn) {
        if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fn); else fn();
        return api;
      },
      on: function () { return api; },
      bootstrapTable: function (options) {
        if (!options || typeof options !== "object") return api;
        nodes.forEach(function (table) { draw(table, options); });
        return api;
      }
    };
    return api;
  }
  function draw(table, options) {
    var columns = (options.columns || []).filter(function (c) { return c.visible !== false && c.visible !== "false"; });
    var head = "<thead><tr>" + columns.map(function (c) { return "<th>" + (c.title || "") + "</th>"; }).join("") +
      "</tr></thead>";
    var rows = (options.data || []).map(function (row) {
      var cells = columns.map(function (c) { return "<td>" + (row[c.field] == null ? "" : row[c.field]) + "</td>"; });
      var link = row._table_row_link_path ? ' data-href="' + row._table_row_link_path + '" style="cursor:pointer"' : "";
      return "<tr" + link + ">" + cells.join("") + "</tr>";
    });
    table.innerHTML = head + "<tbody>" + rows.join("") + "</tbody>";
    table.addEventListener("click", function (e) {
      var tr = e.target.closest("tr[data-href]");
      if (tr && !e.target.closest("a")) window.location.href = tr.getAttribute("data-href");
    });
  }
  window.$ = window.jQuery = wrap;
})();
