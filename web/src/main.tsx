import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, get, getUser, loadInfo, logout, onUser, setUser } from './api';
import { match, navigate, onLinkClick, useLocation } from './router';
import type { User } from './types';
import { ErrorBoundary, ErrorBox, Loading, Toasts } from './ui';
import { ProfilePage, TokensPage, UsersPage } from './pages/account';
import { QueuesPage } from './pages/queues';
import { DashboardPage } from './pages/dashboard';
import { LoginPage } from './pages/login';
import { ProjectPage, ProjectsPage } from './pages/projects';
import { RunnersPage } from './pages/runners';
import { TaskPage } from './pages/task';
import { TemplatePage } from './pages/template';
import './styles.css';

/** The signed-in user's menu: profile and password, API tokens, (admins) users, log out. */
function UserMenu({ user }: { user: User }) {
  const [open, setOpen] = useState(false);
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const away = (e: Event) => {
      if (!ref.current?.contains(e.target as Node)) setOpen(false);
    };
    const esc = (e: KeyboardEvent) => {
      if (e.key === 'Escape') {
        setOpen(false);
        ref.current?.querySelector('button')?.focus();
      }
    };
    document.addEventListener('click', away);
    document.addEventListener('keydown', esc);
    return () => {
      document.removeEventListener('click', away);
      document.removeEventListener('keydown', esc);
    };
  }, [open]);
  return (
    <div class="user-menu" ref={ref}>
      <button type="button" class="user-btn" aria-expanded={open} aria-controls="user-menu-list" onClick={() => setOpen(!open)} title={user.email || user.username}>
        <span class="user-name">{user.name || user.username}</span>{user.admin ? <span class="muted small"> admin</span> : null} <span aria-hidden="true">▾</span>
      </button>
      <ul id="user-menu-list" class="menu" hidden={!open} onClick={(e) => { if ((e.target as Element).closest('a,button')) setOpen(false); }}>
        <li><a href="/user">Profile and password</a></li>
        <li><a href="/user/tokens">API tokens</a></li>
        {user.admin && <li><a href="/users">Users</a></li>}
        <li><button type="button" class="menu-item" onClick={() => void logout()}>Log out</button></li>
      </ul>
    </div>
  );
}

function Nav({ user, path }: { user: User; path: string }) {
  const item = (href: string, label: string, active: boolean) => (
    <li><a href={href} aria-current={active ? 'page' : undefined}>{label}</a></li>
  );
  return (
    <header class="topbar">
      <a class="brand" href="/" aria-label="Forge dashboard">Forge</a>
      <nav aria-label="Main">
        <ul>
          {item('/', 'Dashboard', path === '/')}
          {item('/projects', 'Projects', path.startsWith('/project'))}
          {user.admin && item('/runners', 'Runners', path.startsWith('/runners'))}
          {user.admin && item('/queues', 'Queues', path.startsWith('/queues'))}
        </ul>
      </nav>
      <UserMenu user={user} />
    </header>
  );
}

function NotFound() {
  return (
    <section>
      <h1>Page not found</h1>
      <p>There is nothing at this address. Go to the <a href="/">dashboard</a> or the <a href="/projects">projects</a>.</p>
    </section>
  );
}

function Routes({ path, user }: { path: string; user: User }) {
  let m: Record<string, string> | null;
  if (path === '/' || path === '') return <DashboardPage />;
  if (path === '/projects') return <ProjectsPage />;
  if (path === '/user') return <ProfilePage user={user} />;
  if (path === '/user/tokens') return <TokensPage />;
  if (path === '/users') return user.admin ? <UsersPage /> : <ErrorBox error="Users are managed by admins." />;
  if (path === '/queues') return user.admin ? <QueuesPage /> : <ErrorBox error="The queues are shown to admins." />;
  if (path === '/runners') return user.admin ? <RunnersPage projectId={null} /> : <ErrorBox error="Global runners are managed by admins; project runners are on each project's Runners tab." />;
  if ((m = match('/project/:pid/templates/:tid', path))) return <TemplatePage projectId={Number(m.pid)} templateId={Number(m.tid)} />;
  if ((m = match('/project/:pid/tasks/:tid', path))) return <TaskPage projectId={Number(m.pid)} taskId={Number(m.tid)} />;
  if ((m = match('/project/:pid/:section', path))) return <ProjectPage projectId={Number(m.pid)} section={m.section!} />;
  if ((m = match('/project/:pid', path))) return <ProjectPage projectId={Number(m.pid)} section="templates" />;
  return <NotFound />;
}

function App() {
  const loc = useLocation();
  const [user, setUserState] = useState<User | null>(getUser());
  const [checked, setChecked] = useState(false);
  const [bootError, setBootError] = useState<unknown>();

  useEffect(() => onUser(setUserState), []);
  useEffect(() => {
    void (async () => {
      await loadInfo();
      try {
        setUser(await get<User>('/api/user'));
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 401)) setBootError(err);
      } finally {
        setChecked(true);
      }
    })();
  }, []);

  useEffect(() => {
    const titles: Array<[RegExp, string]> = [[/^\/$/, 'Dashboard'], [/^\/login/, 'Log in'], [/^\/projects/, 'Projects'], [/^\/runners/, 'Runners'], [/^\/queues/, 'Queues'], [/^\/user\/tokens/, 'API tokens'], [/^\/users/, 'Users'], [/^\/user/, 'Profile'], [/\/tasks\/\d+$/, 'Task'], [/^\/project/, 'Project']];
    const t = titles.find(([re]) => re.test(loc.path));
    document.title = t ? `${t[1]} · Forge` : 'Forge';
  }, [loc.path]);

  if (!checked) return <Loading what="Loading Forge" />;
  if (bootError) return <main class="page"><ErrorBox error={bootError} title="Forge did not answer" /></main>;
  if (loc.path === '/login') return <LoginPage next={loc.query.get('next')} oidcError={loc.query.get('oidc_error')} />;
  if (!user) {
    navigate(`/login?next=${encodeURIComponent(loc.path + location.search)}`, { replace: true });
    return null;
  }
  return (
    <>
      <a class="skip-link" href="#main">Skip to content</a>
      <Nav user={user} path={loc.path} />
      <main id="main" class="page" tabIndex={-1}>
        <ErrorBoundary key={loc.path}>
          <Routes path={loc.path} user={user} />
        </ErrorBoundary>
      </main>
    </>
  );
}

document.addEventListener('click', onLinkClick);
const root = document.getElementById('app')!;
root.textContent = '';
render(<><App /><Toasts /></>, root);
