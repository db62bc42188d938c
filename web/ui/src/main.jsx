// Entry point: the page shell, a small history-API router and the theme.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { useApi } from './api.js';
import { QueryPage } from './query.jsx';
import { AlertsPage } from './pages/alerts.jsx';
import { RulesPage } from './pages/rules.jsx';
import { ServiceDiscoveryPage, TargetsPage } from './pages/targets.jsx';
import { ConfigPage, FlagsPage, StatusPage, TsdbStatusPage } from './pages/status.jsx';
import { DiagnosePage } from './pages/triage/diagnose.jsx';
import { KafkaLagPage } from './pages/triage/kafka.jsx';
import { CardinalityPage } from './pages/cardinality.jsx';
import { PREFIX, href, pagePath } from './paths.js';
import { TenantField, useTenant } from './tenant.jsx';

// The paths are Prometheus 3's, so bookmarks carry over.
const PAGES = [
  { path: '/query', title: 'Query', main: true },
  { path: '/alerts', title: 'Alerts', main: true },
  { path: '/diagnose', title: 'Diagnose pod', main: true },
  { path: '/kafka-lag', title: 'Kafka lag', main: true },
  { path: '/targets', title: 'Targets' },
  { path: '/rules', title: 'Rules' },
  { path: '/service-discovery', title: 'Service discovery' },
  { path: '/status', title: 'Runtime & build' },
  { path: '/tsdb-status', title: 'TSDB status' },
  { path: '/cardinality', title: 'Cardinality' },
  { path: '/flags', title: 'Flags' },
  { path: '/config', title: 'Configuration' },
];

function usePath() {
  const [path, setPath] = useState(() => pagePath());
  useEffect(() => {
    const onPop = () => setPath(pagePath());
    window.addEventListener('popstate', onPop);
    // Same-origin links to UI pages navigate without a reload.
    const onClick = (e) => {
      if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      const a = e.target.closest && e.target.closest('a[href]');
      if (!a || a.target || a.origin !== window.location.origin) return;
      // A page link written without the prefix still lands under it.
      const to = PREFIX && !a.pathname.startsWith(`${PREFIX}/`) ? a.pathname : pagePath(a.pathname);
      if (!PAGES.some((p) => p.path === to)) return;
      e.preventDefault();
      window.history.pushState(null, '', href(to) + a.search);
      setPath(to);
      window.scrollTo(0, 0);
    };
    document.addEventListener('click', onClick);
    return () => {
      window.removeEventListener('popstate', onPop);
      document.removeEventListener('click', onClick);
    };
  }, []);
  return path;
}

function themeNow() {
  return document.documentElement.dataset.theme || (window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light');
}

function ThemeToggle() {
  const [theme, setTheme] = useState(themeNow);
  const flip = () => {
    const next = theme === 'dark' ? 'light' : 'dark';
    document.documentElement.dataset.theme = next;
    try {
      localStorage.setItem('strata.theme', next);
    } catch {
      // Private mode: the choice lasts for this page only.
    }
    setTheme(next);
  };
  return (
    <button type="button" class="btn icon theme" onClick={flip} aria-label={`Switch to ${theme === 'dark' ? 'light' : 'dark'} theme`} title="Toggle theme">
      {theme === 'dark' ? '☀' : '☾'}
    </button>
  );
}

function App() {
  const path = usePath();
  const tenant = useTenant();
  const [menuOpen, setMenuOpen] = useState(false);
  const [flags] = useApi('status/flags');
  const agent = flags.data && flags.data.agent === 'true';
  const page = PAGES.find((p) => p.path === path);
  useEffect(() => {
    document.title = page ? `${page.title} · Strata` : 'Strata';
    setMenuOpen(false);
  }, [path]);

  let body;
  switch (path) {
    case '/query':
    case '/graph':
      body = <QueryPage agent={agent} />;
      break;
    case '/alerts':
      body = <AlertsPage />;
      break;
    case '/rules':
      body = <RulesPage />;
      break;
    case '/targets':
      body = <TargetsPage />;
      break;
    case '/service-discovery':
      body = <ServiceDiscoveryPage />;
      break;
    case '/status':
      body = <StatusPage />;
      break;
    case '/tsdb-status':
      body = <TsdbStatusPage />;
      break;
    case '/cardinality':
      body = <CardinalityPage />;
      break;
    case '/flags':
      body = <FlagsPage />;
      break;
    case '/config':
      body = <ConfigPage />;
      break;
    case '/diagnose':
      body = <DiagnosePage />;
      break;
    case '/kafka-lag':
      body = <KafkaLagPage />;
      break;
    default:
      body = (
        <main class="page">
          <h1>Not found</h1>
          <p>
            No page at <code>{path}</code>. <a href={href('/query')}>Go to the query page.</a>
          </p>
        </main>
      );
  }

  return (
    <>
      <a class="skip" href="#content">
        Skip to content
      </a>
      <header class="top">
        <a href={href('/query')} class="brand">
          <span class="logo" aria-hidden="true" />
          Strata{agent ? ' Agent' : ''}
        </a>
        <button type="button" class="btn icon menu" aria-expanded={menuOpen ? 'true' : 'false'} aria-controls="nav" onClick={() => setMenuOpen((v) => !v)} aria-label="Menu">
          ☰
        </button>
        <nav id="nav" class={menuOpen ? 'open' : ''} aria-label="Pages">
          {PAGES.map((p) => (
            <a key={p.path} href={href(p.path)} aria-current={p.path === path ? 'page' : undefined} class={p.main ? 'main' : ''}>
              {p.title}
            </a>
          ))}
        </nav>
        <TenantField />
        <ThemeToggle />
      </header>
      {/* Remounted per tenant, so every page loads the new tenant's data. */}
      <div id="content" key={tenant}>
        {body}
      </div>
    </>
  );
}

render(<App />, document.getElementById('app'));
