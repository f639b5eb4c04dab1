import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, get, getUser, loadInfo, logout, onUser, setUser } from './api';
import { match, navigate, onLinkClick, useLocation } from './router';
import type { User } from './types';
import { ErrorBox, Loading, Toasts } from './ui';
import { DashboardPage } from './pages/dashboard';
import { LoginPage } from './pages/login';
import { ProjectPage, ProjectsPage } from './pages/projects';
import { RunnersPage } from './pages/runners';
import { TaskPage } from './pages/task';
import { TemplatePage } from './pages/template';
import './styles.css';

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
          {user.admin && <li><a href="/admin/queues">Queues</a></li>}
        </ul>
      </nav>
      <div class="user-menu">
        <span class="user-name" title={user.email || user.username}>{user.name || user.username}{user.admin ? ' (admin)' : ''}</span>
        <button type="button" class="link-btn" onClick={() => void logout()}>Log out</button>
      </div>
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
    const titles: Array<[RegExp, string]> = [[/^\/$/, 'Dashboard'], [/^\/login/, 'Log in'], [/^\/projects/, 'Projects'], [/^\/runners/, 'Runners'], [/\/tasks\/\d+$/, 'Task'], [/^\/project/, 'Project']];
    const t = titles.find(([re]) => re.test(loc.path));
    document.title = t ? `${t[1]} · Forge` : 'Forge';
  }, [loc.path]);

  if (!checked) return <Loading what="Loading Forge" />;
  if (bootError) return <main class="page"><ErrorBox error={bootError} title="Forge did not answer" /></main>;
  if (loc.path === '/login') return <LoginPage next={loc.query.get('next')} />;
  if (!user) {
    navigate(`/login?next=${encodeURIComponent(loc.path + location.search)}`, { replace: true });
    return null;
  }
  return (
    <>
      <a class="skip-link" href="#main">Skip to content</a>
      <Nav user={user} path={loc.path} />
      <main id="main" class="page" tabIndex={-1}>
        <Routes path={loc.path} user={user} />
      </main>
    </>
  );
}

document.addEventListener('click', onLinkClick);
const root = document.getElementById('app')!;
root.textContent = '';
render(<><App /><Toasts /></>, root);
