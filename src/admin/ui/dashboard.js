// Viaduct dashboard: plain JavaScript, no build step, no network but this admin server.
// It loads /api/stats and /api/sessions once, then follows /api/events (Server-Sent Events); on every
// (re)connection the stream's "hello" makes it reload, so a dropped stream never leaves it stale.
'use strict'
;(function () {
  var MODES = ['forward', 'relay']
  var MAX_RECENT = 30
  var MAX_POINTS = 120
  var token = new URLSearchParams(location.search).get('token')
  var q = token ? '?token=' + encodeURIComponent(token) : ''
  var live = new Map()
  var recent = { forward: [], relay: [] }
  var points = { forward: [], relay: [] }
  var stats = null
  var clockSkew = 0
  var dirty = false
  var startedAt = 0

  function api(path, extra) {
    var sep = path.indexOf('?') >= 0 ? '&' : '?'
    var url = path + (extra ? sep + extra : '')
    if (token) url += (url.indexOf('?') >= 0 ? '&' : '?') + 'token=' + encodeURIComponent(token)
    return fetch(url, { cache: 'no-store' }).then(function (r) {
      if (!r.ok) throw new Error(path + ': HTTP ' + r.status)
      return r.json()
    })
  }

  function bytes(n) {
    if (!isFinite(n)) return '-'
    var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
    var i = 0
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++ }
    return (i === 0 ? String(Math.round(n)) : n.toFixed(n < 10 ? 2 : 1)) + ' ' + u[i]
  }

  function dur(ms) {
    if (!isFinite(ms) || ms < 0) return '-'
    if (ms < 1000) return Math.round(ms) + ' ms'
    var s = ms / 1000
    if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + ' s'
    var m = Math.floor(s / 60)
    if (m < 60) return m + ' min ' + Math.floor(s % 60) + ' s'
    return Math.floor(m / 60) + ' h ' + (m % 60) + ' min'
  }

  function now() { return Date.now() + clockSkew }

  function td(text, cls) {
    var c = document.createElement('td')
    c.textContent = text == null ? '' : String(text)
    if (cls) c.className = cls
    c.title = c.textContent
    return c
  }

  function endpoints(r) {
    if (r.mode === 'relay') return r.client + ' ⇄ ' + (r.peer || 'waiting…')
    return r.client + ' → ' + (r.target || '…')
  }

  function third(r) {
    if (r.mode !== 'relay') return r.user || ''
    var m = r.meta || {}
    var parts = []
    if (m.room != null) parts.push(String(m.room))
    if (m.id != null && m.room == null) parts.push(String(m.id))
    if (m.relayed != null) parts.push(String(m.relayed))
    return parts.join(' · ')
  }

  function isError(reason) { return typeof reason === 'string' && reason.indexOf('VIADUCT_ERR_') === 0 }

  function row(r, closed) {
    var tr = document.createElement('tr')
    tr.dataset.id = r.id
    tr.appendChild(td(endpoints(r)))
    tr.appendChild(td(r.protocol))
    if (closed) {
      var rc = td(isError(r.reason) ? r.reason.slice('VIADUCT_ERR_'.length) : r.reason, isError(r.reason) ? 'err' : '')
      rc.title = (r.reason || '') + (r.detail ? ': ' + r.detail : '')
      tr.appendChild(rc)
    }
    else tr.appendChild(td(third(r)))
    tr.appendChild(td(bytes(r.bytesUp), 'n'))
    tr.appendChild(td(bytes(r.bytesDown), 'n'))
    tr.appendChild(td(closed ? dur(r.durationMs) : dur(now() - r.openedAt), 'n'))
    return tr
  }

  var seen = new Set()
  function fillTable(id, list, closed) {
    var body = document.querySelector('#' + id + ' tbody')
    var frag = document.createDocumentFragment()
    list.forEach(function (r) {
      var tr = row(r, closed)
      if (!closed && !seen.has(r.id)) { tr.className = 'new'; seen.add(r.id) }
      frag.appendChild(tr)
    })
    body.replaceChildren(frag)
    var empty = document.querySelector('[data-empty="' + id + '"]')
    if (empty) empty.classList.toggle('hidden', list.length > 0)
  }

  function setStat(key, text) {
    var el = document.querySelector('[data-stat="' + key + '"]')
    if (el) el.textContent = text
  }

  function render() {
    dirty = false
    MODES.forEach(function (mode) {
      var mine = []
      live.forEach(function (r) { if (r.mode === mode) mine.push(r) })
      mine.sort(function (a, b) { return b.openedAt - a.openedAt })
      fillTable(mode + '-live', mine.slice(0, 100), false)
      fillTable(mode + '-recent', recent[mode].slice(0, MAX_RECENT), true)
      var m = (stats && stats.byMode && stats.byMode[mode]) || { live: 0, total: 0, bytesUp: 0, bytesDown: 0 }
      setStat(mode + '.live', String(m.live))
      setStat(mode + '.total', String(m.total))
      setStat(mode + '.up', bytes(m.bytesUp))
      setStat(mode + '.down', bytes(m.bytesDown))
      var last = points[mode][points[mode].length - 1]
      setStat(mode + '.rate', last ? bytes(last.up) + '/s up · ' + bytes(last.down) + '/s down' : '')
      renderReasons(mode)
      drawChart(mode)
    })
    if (stats) {
      document.getElementById('uptime').textContent = dur(now() - startedAt)
      document.getElementById('listeners').textContent = (stats.listeners || [])
        .map(function (l) { return l.listener + ' ' + l.transport + ' ' + (l.address.indexOf(':') >= 0 ? '[' + l.address + ']' : l.address) + ':' + l.port })
        .join(' · ')
    }
  }

  // Close reasons per mode since the gateway started (the server counts them: stats.reasonsByMode).
  function renderReasons(mode) {
    var ul = document.getElementById(mode + '-reasons')
    var c = (stats && stats.reasonsByMode && stats.reasonsByMode[mode]) || {}
    var keys = Object.keys(c).sort(function (a, b) { return c[b] - c[a] })
    var frag = document.createDocumentFragment()
    keys.forEach(function (k) {
      var li = document.createElement('li')
      li.dataset.reason = k
      if (isError(k)) li.className = 'err'
      li.appendChild(document.createTextNode(k))
      var b = document.createElement('b')
      b.textContent = String(c[k])
      li.appendChild(b)
      frag.appendChild(li)
    })
    if (!keys.length) {
      var li = document.createElement('li')
      li.textContent = 'none yet'
      frag.appendChild(li)
    }
    ul.replaceChildren(frag)
  }

  function drawChart(mode) {
    var canvas = document.getElementById('chart-' + mode)
    var dpr = window.devicePixelRatio || 1
    var w = canvas.clientWidth || 560
    var h = canvas.clientHeight || 150
    if (canvas.width !== Math.round(w * dpr)) { canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr) }
    var g = canvas.getContext('2d')
    g.setTransform(dpr, 0, 0, dpr, 0, 0)
    g.clearRect(0, 0, w, h)
    var pts = points[mode]
    var max = 1024
    pts.forEach(function (p) { max = Math.max(max, p.up, p.down) })
    var left = 62, right = 6, top = 8, bottom = 18
    var pw = w - left - right, ph = h - top - bottom
    var css = getComputedStyle(document.documentElement)
    g.strokeStyle = css.getPropertyValue('--line') || '#e3e6eb'
    g.fillStyle = css.getPropertyValue('--muted') || '#667085'
    g.font = '11px system-ui, sans-serif'
    g.lineWidth = 1
    for (var i = 0; i <= 3; i++) {
      var y = top + ph - (ph * i) / 3
      g.beginPath(); g.moveTo(left, y); g.lineTo(w - right, y); g.stroke()
      g.fillText(bytes((max * i) / 3) + '/s', 2, y + 4)
    }
    g.fillText('-' + MAX_POINTS + ' s', left, h - 4)
    g.fillText('now', w - right - 22, h - 4)
    var tEnd = now()
    function line(key, color) {
      g.strokeStyle = color
      g.lineWidth = 2
      g.beginPath()
      pts.forEach(function (p, idx) {
        var x = left + pw - ((tEnd - p.t) / (MAX_POINTS * 1000)) * pw
        var y = top + ph - (p[key] / max) * ph
        if (idx === 0) g.moveTo(Math.max(left, x), y)
        else g.lineTo(Math.max(left, x), y)
      })
      g.stroke()
    }
    line('up', css.getPropertyValue('--up') || '#2f6fdf')
    line('down', css.getPropertyValue('--down') || '#1f9d61')
  }

  function schedule() {
    if (dirty) return
    dirty = true
    setTimeout(render, 150)
  }

  function addPoint(t, modes) {
    MODES.forEach(function (mode) {
      var v = (modes && modes[mode]) || { up: 0, down: 0 }
      points[mode].push({ t: t, up: v.up, down: v.down })
      if (points[mode].length > MAX_POINTS) points[mode].shift()
    })
  }

  function reload() {
    return Promise.all([api('/api/stats'), api('/api/sessions', 'state=all&limit=1000')]).then(function (res) {
      stats = res[0]
      clockSkew = stats.now - Date.now()
      startedAt = stats.startedAt
      points = { forward: [], relay: [] }
      ;(stats.throughput || []).forEach(function (p) { addPoint(p.t, p.modes) })
      live.clear()
      recent = { forward: [], relay: [] }
      res[1].sessions.forEach(function (r) {
        if (r.state === 'live') live.set(r.id, r)
        else if (recent[r.mode]) recent[r.mode].push(r)
      })
      schedule()
    })
  }

  function connect() {
    var es = new EventSource('/api/events' + q)
    var dot = document.getElementById('conn')
    var text = document.getElementById('conn-text')
    es.addEventListener('hello', function () {
      dot.className = 'dot on'
      text.textContent = 'live'
      reload().catch(function (e) { text.textContent = String(e.message || e) })
    })
    es.addEventListener('session.open', function (e) { var r = JSON.parse(e.data); live.set(r.id, r); schedule() })
    es.addEventListener('session.update', function (e) { var r = JSON.parse(e.data); if (live.has(r.id)) live.set(r.id, r); schedule() })
    es.addEventListener('session.close', function (e) {
      var r = JSON.parse(e.data)
      live.delete(r.id)
      if (recent[r.mode]) {
        recent[r.mode].unshift(r)
        if (recent[r.mode].length > 200) recent[r.mode].length = 200
      }
      schedule()
    })
    es.addEventListener('tick', function (e) {
      var ev = JSON.parse(e.data)
      stats = Object.assign({}, stats || {}, ev.stats)
      addPoint(ev.t, ev.modes)
      Object.keys(ev.sessions || {}).forEach(function (id) {
        var r = live.get(id)
        if (r) { r.bytesUp = ev.sessions[id][0]; r.bytesDown = ev.sessions[id][1] }
      })
      schedule()
    })
    es.onerror = function () {
      dot.className = 'dot off'
      text.textContent = 'reconnecting'
    }
  }

  document.addEventListener('DOMContentLoaded', function () {
    render()
    connect()
    setInterval(schedule, 1000)
  })
})()
