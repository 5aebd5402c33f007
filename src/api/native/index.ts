import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Services } from '../../app.js';
import { apiKeyRoutes } from './api-keys.js';
import { appRoutes } from './apps.js';
import { integrationRoutes } from './integrations.js';
import { listRoutes } from './lists.js';
import { emailTemplateRoutes } from './email-templates.js';
import { tagRoutes } from './tags.js';
import { codeSnippetRoutes } from './code-snippets.js';
import { eventRoutes } from './events.js';
import { eventWebhookRoutes } from './event-webhooks.js';
import { analyticsRoutes } from './analytics.js';
import { logStreamRoutes } from './log-streams.js';
import { templateRoutes } from './templates.js';
import { auditLogRoutes } from './audit-logs.js';
import { authRoutes } from './auth.js';
import { secretRoutes } from './secrets.js';
import { userRoutes } from './users.js';
import { activityLogRoutes } from './activity-logs.js';
import { executionRoutes } from './executions.js';
import { variableRoutes } from './variables.js';
import { approvalRoutes } from './approvals.js';
import { webhookAdminRoutes, webhookRoutes } from './webhooks.js';
import { workflowRoutes } from './workflows.js';
import { workspaceRoutes } from './workspaces.js';

/** The native API under /v1. */
export function nativeRoutes(services: Services): FastifyPluginAsyncTypebox {
  return async (app) => {
    for (const routes of [
      authRoutes,
      workspaceRoutes,
      userRoutes,
      apiKeyRoutes,
      auditLogRoutes,
      secretRoutes,
      variableRoutes,
      workflowRoutes,
      executionRoutes,
      activityLogRoutes,
      webhookRoutes,
      webhookAdminRoutes,
      approvalRoutes,
      appRoutes,
      integrationRoutes,
      listRoutes,
      emailTemplateRoutes,
      tagRoutes,
      codeSnippetRoutes,
      eventRoutes,
      eventWebhookRoutes,
      analyticsRoutes,
      logStreamRoutes,
      templateRoutes,
    ]) {
      await app.register(routes(services));
    }
  };
}
