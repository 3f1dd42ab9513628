// Alerts for finance and the operator, all sent to one action group (an e-mail address).
// Each names the signal it reads. Azure Monitor sees the poison queues and the dead-letter
// container directly (platform metrics); the rest is the app's own OpenTelemetry metrics
// (payout_core/telemetry.py), which Application Insights keeps in `customMetrics`.
//
//   alert                              signal
//   a file refused or poisoned         customMetrics payout.files.refused / payout.files.poisoned
//   a message on a poison queue        Storage QueueMessageCount of the MIS account (its only
//                                      queues are webjobs-blobtrigger-poison and -poison-poison)
//   an event in the dead-letter        Event Grid system topic DeadLetteredCount
//   container
//   a hold older than N days           customMetrics payout.holds.oldest_age_days (each summary run)
//   a cycle not closed on schedule     customMetrics payout.summary.runs, result "ran"
//   recon discrepancies rising         customMetrics payout.reconciliation.discrepancies (per iteration)

param location string
param tags object
param resourceToken string
param alertEmail string
param applicationInsightsId string
param misStorageAccountId string
param eventGridTopicId string
param cycleOverdueHours int
param holdMaxAgeDays int

resource operators 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-payout-${resourceToken}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'payout'
    enabled: true
    emailReceivers: [
      {
        name: 'finance-and-operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

// --- platform metrics --------------------------------------------------------------------

resource poisonQueueAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'payout-poison-queue-not-empty'
  location: 'global'
  tags: tags
  properties: {
    description: 'A message waits on a poison queue of the MIS account: a file failed on every attempt and even recording it failed (webjobs-blobtrigger-poison-poison), or the poison handler is behind. QueueMessageCount is counted hourly.'
    severity: 1
    enabled: true
    scopes: ['${misStorageAccountId}/queueServices/default']
    evaluationFrequency: 'PT1H'
    windowSize: 'PT6H'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'messages'
          metricNamespace: 'Microsoft.Storage/storageAccounts/queueServices'
          metricName: 'QueueMessageCount'
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Average'
        }
      ]
    }
    actions: [{ actionGroupId: operators.id }]
  }
}

resource deadLetterAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'payout-event-dead-lettered'
  location: 'global'
  tags: tags
  properties: {
    description: 'Event Grid could not deliver a blob event to the app and wrote it to the eventgrid-deadletter container: that file was never processed. Upload it again once the app is healthy.'
    severity: 1
    enabled: true
    scopes: [eventGridTopicId]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'deadLettered'
          metricNamespace: 'Microsoft.EventGrid/systemTopics'
          metricName: 'DeadLetteredCount'
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Total'
        }
      ]
    }
    actions: [{ actionGroupId: operators.id }]
  }
}

// --- the app's own metrics (Application Insights customMetrics) --------------------------

resource fileRefusedAlert 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: 'payout-file-refused-or-poisoned'
  location: location
  tags: tags
  properties: {
    description: 'A file was refused (moved to the quarantine container, its cause in error_logs / error_logs.csv) or failed on every attempt (poisoned).'
    severity: 2
    enabled: true
    scopes: [applicationInsightsId]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    autoMitigate: false
    criteria: {
      allOf: [
        {
          query: 'customMetrics | where name in ("payout.files.refused", "payout.files.poisoned") | summarize files = sum(valueSum) by kind = name'
          metricMeasureColumn: 'files'
          dimensions: [{ name: 'kind', operator: 'Include', values: ['*'] }]
          timeAggregation: 'Total'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }
      ]
    }
    actions: { actionGroups: [operators.id] }
  }
}

resource holdAgeAlert 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: 'payout-hold-waiting-too-long'
  location: location
  tags: tags
  properties: {
    description: 'A held payout event has waited more than ${holdMaxAgeDays} days for a decision on the review page (the age is read at each run of the summary job).'
    severity: 2
    enabled: true
    scopes: [applicationInsightsId]
    evaluationFrequency: 'PT1H'
    windowSize: 'P2D'
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: 'customMetrics | where name == "payout.holds.oldest_age_days" | summarize arg_max(timestamp, value) | project oldest_age_days = value'
          metricMeasureColumn: 'oldest_age_days'
          timeAggregation: 'Maximum'
          operator: 'GreaterThan'
          threshold: holdMaxAgeDays
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }
      ]
    }
    actions: { actionGroups: [operators.id] }
  }
}

resource cycleOverdueAlert 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: 'payout-cycle-not-closed-on-schedule'
  location: location
  tags: tags
  properties: {
    description: 'The summary job (which closes each payout cycle and emails finance) has not run successfully for ${cycleOverdueHours} hours: it failed, or the app is not running.'
    severity: 1
    enabled: true
    scopes: [applicationInsightsId]
    evaluationFrequency: 'PT1H'
    windowSize: 'PT${cycleOverdueHours}H'
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: 'customMetrics | where name == "payout.summary.runs" and tostring(customDimensions["payout.result"]) == "ran" | summarize runs = sum(valueSum)'
          metricMeasureColumn: 'runs'
          timeAggregation: 'Total'
          operator: 'LessThan'
          threshold: 1
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }
      ]
    }
    actions: { actionGroups: [operators.id] }
  }
}

resource discrepanciesRisingAlert 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: 'payout-reconciliation-discrepancies-rising'
  location: location
  tags: tags
  properties: {
    description: 'The latest iteration reported more reconciliation discrepancies (money in and out that did not match) than the one before.'
    severity: 3
    enabled: true
    scopes: [applicationInsightsId]
    evaluationFrequency: 'PT1H'
    windowSize: 'P2D'
    autoMitigate: false
    criteria: {
      allOf: [
        {
          query: 'customMetrics | where name == "payout.reconciliation.discrepancies" | project timestamp, value | order by timestamp desc | take 2 | serialize previous = next(value) | take 1 | where timestamp > ago(1h) | project rise = value - previous'
          metricMeasureColumn: 'rise'
          timeAggregation: 'Maximum'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }
      ]
    }
    actions: { actionGroups: [operators.id] }
  }
}
