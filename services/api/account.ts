import { Router } from 'express';
import { z } from 'zod';
import type { AppContext } from '../context.js';
import { HttpError, idParam, notFound, parseBody } from './http.js';

const passwordInput = z.object({
  password: z.string().min(8, 'at least 8 characters').max(1024),
  /** The UI sends it when users change their own password; when present it must be right. */
  current_password: z.string().max(1024).optional(),
}).strict();

/**
 * POST /api/users/:user_id/password {password} (Semaphore's endpoint): users change their own
 * password, admins anyone's. Answers 204.
 */
export function accountRouter(ctx: AppContext): Router {
  const router = Router();
  router.post('/users/:user_id/password', async (req, res) => {
    const id = idParam(req, 'user_id');
    const me = req.user!;
    if (id !== me.id && !me.admin) throw new HttpError(403, 'you may change only your own password (admins may change anyone\'s)');
    const input = parseBody(passwordInput, req.body);
    const user = await ctx.stores.users.get(id);
    if (!user) throw notFound('user');
    if (input.current_password !== undefined && !(await ctx.stores.users.authenticate(user.login, input.current_password))) {
      throw new HttpError(400, 'current_password: this is not your current password');
    }
    await ctx.stores.users.setPassword(id, input.password);
    res.status(204).end();
  });
  return router;
}
