(function () {
  'use strict';
  var holder = document.getElementById('dt-data');
  var box = document.getElementById('tm-box');
  var crumbs = document.getElementById('tm-crumbs');
  if (!holder || !box || !crumbs) return;
  var D = JSON.parse(holder.textContent);
  var kind = D.kind === 1 ? 1 : 0;
  var compared = D.mode !== 'top';
  var path = [D.tree];
  var UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

  function human(n) {
    var v = Math.abs(n), i = 0;
    while (v >= 1024 && i < UNITS.length - 1) { v /= 1024; i++; }
    return (i === 0 ? v.toFixed(0) : v.toFixed(1)) + ' ' + UNITS[i];
  }
  function signed(d) { return (d > 0 ? '+' : d < 0 ? '-' : '±') + human(d); }
  function now(n) { return n.s[kind]; }
  function before(n) { return n.b ? n.b[kind] : 0; }
  function weight(n) { return compared ? Math.max(now(n), before(n)) : now(n); }

  // What a directory's rectangle holds: its shown subdirectories, one
  // "other" part for the folded ones, and its own files.
  function parts(n) {
    var list = [], used = 0;
    n.c.forEach(function (c) {
      var v = weight(c);
      if (v > 0) { list.push({ node: c, v: v }); used += v; }
    });
    if (n.o > 0) {
      var ov = compared ? Math.max(n.os[kind], n.ob[kind]) : n.os[kind];
      if (ov > 0) {
        list.push({ other: n.o, v: ov, d: n.os[kind] - n.ob[kind], now: n.os[kind] });
        used += ov;
      }
    }
    var rest = weight(n) - used;
    if (rest > 0) {
      var restNow = Math.max(0, now(n) - n.c.reduce(function (a, c) { return a + now(c); }, 0) - (n.o > 0 ? n.os[kind] : 0));
      var restBefore = Math.max(0, before(n) - n.c.reduce(function (a, c) { return a + before(c); }, 0) - (n.o > 0 ? n.ob[kind] : 0));
      list.push({ files: true, v: rest, d: restNow - restBefore, now: restNow });
    }
    list.sort(function (a, b) { return b.v - a.v; });
    return list;
  }

  // Squarified treemap (Bruls, Huizing, van Wijk): rows of rectangles laid
  // along the shorter side, each row kept while it improves the worst ratio.
  function layout(items, x, y, w, h) {
    var out = [], total = 0, i;
    for (i = 0; i < items.length; i++) total += items[i].v;
    if (total <= 0 || w <= 0 || h <= 0) return out;
    var scale = (w * h) / total;
    var rest = items.slice();
    while (rest.length) {
      var side = Math.min(w, h), row = [], rowSum = 0, worst = Infinity;
      while (rest.length) {
        var a = rest[0].v * scale, s = rowSum + a;
        var mn = Math.min(row.length ? row[row.length - 1].v * scale : a, a);
        var mx = Math.max(row.length ? row[0].v * scale : a, a);
        var next = Math.max(side * side * mx / (s * s), (s * s) / (side * side * mn));
        if (row.length && next > worst) break;
        row.push(rest.shift()); rowSum = s; worst = next;
      }
      var thick = rowSum / side, pos = 0;
      for (i = 0; i < row.length; i++) {
        var len = row[i].v * scale / thick;
        if (w >= h) out.push({ item: row[i], x: x, y: y + pos, w: thick, h: len });
        else out.push({ item: row[i], x: x + pos, y: y, w: len, h: thick });
        pos += len;
      }
      if (w >= h) { x += thick; w -= thick; } else { y += thick; h -= thick; }
    }
    return out;
  }

  function colour(item, depthIndex) {
    if (!compared) {
      if (item.other || item.files) return 'hsl(210, 10%, 80%)';
      var hue = (depthIndex * 47 + 200) % 360;
      return 'hsl(' + hue + ', 45%, 72%)';
    }
    var d, base;
    if (item.node) { d = now(item.node) - before(item.node); base = weight(item.node); }
    else { d = item.d; base = item.v; }
    if (!d) return 'hsl(210, 12%, 86%)';
    var strength = Math.min(1, Math.abs(d) / Math.max(base, 1));
    var light = 88 - 36 * Math.sqrt(strength);
    return d > 0 ? 'hsl(0, 70%, ' + light + '%)' : 'hsl(130, 45%, ' + light + '%)';
  }

  function label(item) {
    if (item.other) return item.other + ' more ' + (item.other === 1 ? 'directory' : 'directories');
    // An explanation folds its small contributors into the rest as well.
    if (item.files) return D.mode === 'explain' ? 'smaller changes and files' : 'files';
    return item.node.n;
  }

  function caption(item) {
    var n = item.node;
    var shown = n ? now(n) : item.now;
    var text = label(item) + '  ' + human(shown);
    if (compared) {
      var d = n ? now(n) - before(n) : item.d;
      text += ' (' + signed(d) + (n && n.st !== 'changed' ? ', ' + n.st : '') + ')';
    }
    return text;
  }

  function cell(item, r, cls, depth, depthIndex) {
    var el = document.createElement('div');
    el.className = cls + (item.other ? ' other' : item.files ? ' files' : (item.node.c.length || item.node.o ? '' : ' leaf'));
    el.style.left = r.x + 'px'; el.style.top = r.y + 'px';
    el.style.width = Math.max(0, r.w) + 'px'; el.style.height = Math.max(0, r.h) + 'px';
    el.style.background = colour(item, depthIndex);
    el.setAttribute('data-depth', String(depth));
    var t = caption(item);
    el.title = (item.node ? item.node.p : label(item)) + '\n' + t;
    if (item.node) el.setAttribute('data-path', item.node.p);
    if (r.w > 30 && r.h > 14) {
      var l = document.createElement('span');
      l.className = 'tm-label';
      l.textContent = t;
      el.appendChild(l);
    }
    return el;
  }

  function draw() {
    var top = path[path.length - 1];
    while (box.firstChild) box.removeChild(box.firstChild);
    while (crumbs.firstChild) crumbs.removeChild(crumbs.firstChild);
    path.forEach(function (n, i) {
      if (i) { var sep = document.createElement('span'); sep.className = 'tm-sep'; sep.textContent = '/'; crumbs.appendChild(sep); }
      var b = document.createElement('button');
      b.type = 'button';
      b.className = 'tm-crumb';
      b.textContent = n.n;
      b.title = n.p;
      if (i < path.length - 1) b.addEventListener('click', function () { path = path.slice(0, i + 1); draw(); });
      crumbs.appendChild(b);
    });
    var W = box.clientWidth, H = box.clientHeight;
    var rects = layout(parts(top), 0, 0, W, H);
    var count = 0;
    rects.forEach(function (r, idx) {
      var el = cell(r.item, r, 'tm-node', 1, idx);
      count++;
      var n = r.item.node;
      if (n && (n.c.length || n.o)) {
        el.addEventListener('click', function () { path.push(n); draw(); });
        // The next level inside, below the label, when there is room.
        if (r.w > 60 && r.h > 50) {
          layout(parts(n), 2, 17, r.w - 4, r.h - 19).forEach(function (s) {
            el.appendChild(cell(s.item, s, 'tm-sub', 2, idx));
          });
        }
      }
      box.appendChild(el);
    });
    document.body.setAttribute('data-treemap', 'ok');
    // Milliseconds from the start of navigation to this drawing.
    if (!document.body.hasAttribute('data-first-draw-ms')) {
      document.body.setAttribute('data-first-draw-ms', String(Math.round(performance.now())));
    }
    document.body.setAttribute('data-treemap-nodes', String(count));
  }

  var radios = document.getElementsByName('tm-kind');
  for (var i = 0; i < radios.length; i++) {
    radios[i].checked = Number(radios[i].value) === kind;
    radios[i].addEventListener('change', function (e) { kind = Number(e.target.value); draw(); });
  }
  var pending = 0;
  window.addEventListener('resize', function () {
    clearTimeout(pending);
    pending = setTimeout(draw, 100);
  });
  draw();
})();
